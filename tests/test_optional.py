from __future__ import annotations

import pytest

from unetseg.errors import MissingDependencyError
from unetseg.optional import EXTRAS, require


def test_require_returns_installed_module():
    import json

    assert require("json") is json


def test_missing_optional_dependency_names_the_extra(monkeypatch):
    monkeypatch.setitem(EXTRAS, "unetseg_missing_pkg", "augment")
    with pytest.raises(MissingDependencyError) as info:
        require("unetseg_missing_pkg.sub", purpose="2D augmentation")
    message = str(info.value)
    assert message.startswith("2D augmentation needs the optional package 'unetseg_missing_pkg'")
    assert 'pip install "unetseg[augment]"' in message
    assert isinstance(info.value, ImportError)


def test_broken_import_inside_installed_package_is_not_disguised(tmp_path, monkeypatch):
    # The optional package exists, but one of its own imports fails: that is a bug
    # in the environment, not a missing extra, and must surface unchanged.
    package = tmp_path / "unetseg_broken_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("import unetseg_not_there_either\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(ModuleNotFoundError) as info:
        require("unetseg_broken_pkg")
    assert not isinstance(info.value, MissingDependencyError)
    assert info.value.name == "unetseg_not_there_either"
