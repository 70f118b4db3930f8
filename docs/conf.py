"""Sphinx configuration for the unetseg documentation. Builds offline."""

from __future__ import annotations

import os

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
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "README.md"]
templates_path = ["_templates"]

# API reference, generated from the docstrings (Google style).
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
napoleon_google_docstring = True
napoleon_numpy_docstring = False
napoleon_use_rtype = False

myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 3

html_theme = "furo"
html_title = f"unetseg {release}"
html_static_path: list[str] = []
