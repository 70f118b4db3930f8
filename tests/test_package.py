"""The package as a user installs it: version, typing marker, light import, extras."""

from __future__ import annotations

import importlib.metadata
import importlib.resources
import subprocess
import sys
import tomllib
from pathlib import Path

import unetseg

ROOT = Path(__file__).resolve().parents[1]


def test_version_matches_installed_metadata():
    assert unetseg.__version__ == importlib.metadata.version("unetseg")


def test_package_is_typed():
    assert importlib.resources.files("unetseg").joinpath("py.typed").is_file()


def test_import_is_light_and_does_not_load_a_backend():
    code = (
        "import sys, unetseg; "
        "print(sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/"
    )
    assert result.stdout.strip() == "[]"


def test_public_names_are_exported():
    for name in unetseg.__all__:
        assert hasattr(unetseg, name), name


def test_declared_extras_cover_the_optional_imports():
    from unetseg.optional import EXTRAS

    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras = pyproject["project"]["optional-dependencies"]
    for module, extra in EXTRAS.items():
        assert extra in extras, f"{module} points at the missing extra {extra!r}"
        assert any(requirement.startswith(module) for requirement in extras[extra]), (
            f"extra {extra!r} does not install {module!r}"
        )


def test_dependencies_have_lower_bounds_and_no_exact_pins():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    requirements = list(pyproject["project"]["dependencies"])
    for extra in pyproject["project"]["optional-dependencies"].values():
        requirements += [r for r in extra if not r.startswith("unetseg[")]
    for requirement in requirements:
        assert ">=" in requirement, requirement
        assert "==" not in requirement, requirement
