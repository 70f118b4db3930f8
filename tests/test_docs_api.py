"""The API reference is complete: every public package is on it, and every parameter of
every public function and class is documented in its docstring."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def documented_modules() -> list[str]:
    """The modules the API reference lists (``docs/api.rst``)."""
    text = (ROOT / "docs" / "api.rst").read_text()
    return re.findall(r"^   (unetseg[\w.]*)$", text, flags=re.MULTILINE)


def public_callables():
    for module_name in documented_modules():
        module = importlib.import_module(module_name)
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isfunction(obj):
                yield f"{module_name}.{name}", obj


def _parameters(obj) -> list[str]:
    target = obj.__init__ if inspect.isclass(obj) else obj
    if inspect.isclass(obj) and not getattr(target, "__module__", "").startswith("unetseg"):
        return []  # a constructor inherited from Python or Keras, documented there
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return []
    return [
        p.name
        for p in signature.parameters.values()
        if p.name not in ("self", "cls") and not p.name.startswith("_")
    ]


def _docstrings(obj) -> str:
    """The docstrings that document ``obj``'s parameters: a function's own; for a class,
    its own and those of the class that defines its constructor (a subclass that keeps
    its base's constructor is documented by the base, which its page links)."""
    if not inspect.isclass(obj):
        return inspect.getdoc(obj) or ""
    owner = next(c for c in obj.__mro__ if "__init__" in vars(c))
    texts = [obj.__doc__ or "", owner.__doc__ or "", vars(owner)["__init__"].__doc__ or ""]
    return "\n".join(inspect.cleandoc(text) for text in texts)


def undocumented(obj) -> list[str]:
    """The parameters of ``obj`` its docstrings do not describe (``name:`` or
    ``name (type):`` in an ``Args`` section, ``*args``/``**kwargs`` with their stars)."""
    text = _docstrings(obj)
    missing = []
    for name in _parameters(obj):
        pattern = rf"^\s+\**{re.escape(name)}( \([^)]*\))?:"
        if not re.search(pattern, text, flags=re.MULTILINE):
            missing.append(name)
    return missing


def test_every_public_package_is_in_the_reference():
    listed = set(documented_modules())
    packages = {
        "unetseg." + ".".join(p.relative_to(ROOT / "src" / "unetseg").parent.parts)
        for p in (ROOT / "src" / "unetseg").glob("*/__init__.py")
    }
    assert packages <= listed, packages - listed


def test_every_public_parameter_is_documented():
    gaps = {name: missing for name, obj in public_callables() if (missing := undocumented(obj))}
    assert not gaps, "\n".join(f"{name}: {', '.join(m)}" for name, m in sorted(gaps.items()))


@pytest.mark.parametrize(
    ("doc", "expected"),
    [
        ("Do.\n\n    Args:\n        size: the size.\n        overlap (float): how much.", []),
        ("Do.\n\n    Args:\n        size: the size.", ["overlap"]),
        ("Do.\n\n    Args:\n        size: the size.\n        **overlap: more.", []),
    ],
)
def test_the_check_reads_google_style_args(doc, expected):
    def function(size, overlap=0.5):
        pass

    function.__doc__ = doc
    assert undocumented(function) == expected
