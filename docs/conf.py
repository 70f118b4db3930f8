"""Sphinx configuration for the unetseg documentation. Builds offline."""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import unetseg

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

project = "unetseg"
author = "The unetseg developers"
copyright = "2026, The unetseg developers"
release = unetseg.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "myst_parser",
    "sphinx-mathjax-offline",  # MathJax from the package, not a CDN: math renders offline
    "snippets",  # _ext/snippets.py: runs the tutorial, which draws its own picture
]
sys.path.insert(0, str(Path(__file__).parent / "_ext"))

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "README.md"]
templates_path = ["_templates"]

# API reference, generated from the docstrings (Google style).
# Each package's page documents what its ``__all__`` exports (imported names too), at
# the path users import it from.
autosummary_generate = True
autosummary_ignore_module_all = False
autosummary_imported_members = True
autodoc_default_options = {"members": True}  # base classes: see _bases_line
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_description_target = "documented_params"
autodoc_typehints_format = "short"
autodoc_class_signature = "separated"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3


# Every reference must resolve (``-n -W`` in CI): a dead link fails the build. The
# build is offline, so names of Python, NumPy and Keras are not linked (no intersphinx
# inventories can be fetched); they are left as text rather than reported.
nitpicky = True
nitpick_ignore_regex = [
    (
        r"py:.*",
        r"(numpy|np|collections\.abc|typing|os|pathlib|types|csv|abc|keras|tf|tensorflow)"
        r"(\..*)?",
    ),
    (r"py:.*", r"(open|Callable|Sequence|Mapping|Iterable|Iterator|Path|Any|Self)"),
    (r"py:.*", r"unetseg\.registry\.T"),  # the type variable of Registry[T]
]


# The modules the API reference documents (its pages list their ``__all__``).
_API_MODULES = re.findall(
    r"^   (unetseg[\w.]*)$", (Path(__file__).parent / "api.rst").read_text(), flags=re.MULTILINE
)


def _public_path(cls: type) -> str | None:
    """Where the API reference documents a unetseg class (``unetseg.losses.Dice``)."""
    for name in _API_MODULES:
        module = sys.modules.get(name)
        if cls.__name__ in getattr(module, "__all__", ()) and getattr(module, cls.__name__) is cls:
            return f"{name}.{cls.__name__}"
    return None


def _bases_line(app, what, name, obj, options, lines):
    """Start a class's description with the base classes a reader can follow: public
    unetseg classes (linked) and those of other libraries (named), never ``object`` or
    an internal helper; no line at all when none is left (Sphinx's own inheritance line
    would print an empty "Bases:")."""
    if what not in ("class", "exception"):
        return
    shown = []
    for base in obj.__bases__:
        if base.__module__.startswith("unetseg"):
            path = _public_path(base)
            if path is not None:
                shown.append(f":class:`~{path}`")
        elif base is not object:
            shown.append(f"``{base.__module__.split('.src.')[0]}.{base.__qualname__}``")
    if shown:  # after the summary paragraph, which the summary tables show
        end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
        lines[end:end] = ["", f"Bases: {', '.join(shown)}"]


def _doc_comment_of_reexported_data(app, what, name, obj, options, lines):
    """A constant a package re-exports is documented by the ``#:`` comment where it is
    defined (autodoc looks in the package's ``__init__`` and would show ``tuple``'s
    docstring instead)."""
    if what != "data" or (lines and "\n".join(lines).strip() != (type(obj).__doc__ or "").strip()):
        return
    from sphinx.pycode import ModuleAnalyzer

    package, _, attribute = name.rpartition(".")
    nearby = sorted(m for m in sys.modules if m == package or m.startswith(package + "."))
    elsewhere = sorted(m for m in sys.modules if m.startswith("unetseg.") and m not in nearby)
    for module in nearby + elsewhere:
        try:
            comments = ModuleAnalyzer.for_module(module).find_attr_docs()
        except Exception:  # noqa: BLE001 - a module without source: look further
            continue
        if ("", attribute) in comments and getattr(sys.modules[module], attribute, None) is obj:
            lines[:] = list(comments["", attribute])
            return


def setup(app):
    app.connect("autodoc-process-docstring", _bases_line)
    app.connect("autodoc-process-docstring", _doc_comment_of_reexported_data)


html_theme = "furo"
html_title = f"unetseg {release}"
html_static_path: list[str] = []
