"""Attributes of a package imported on first use (PEP 562), so importing the package
does not start Keras and its backend.

Keras takes seconds to import (TensorFlow more), and a command that only reads NIfTI
files, generates cases or scores predictions needs none of it. A package lists the
names that live in Keras-dependent modules; they are imported when first touched.

Example:
    In ``unetseg/inference/__init__.py``::

        __getattr__ = lazy_attributes(__name__, {"Predictor": "unetseg.inference.predictor"})
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping

__all__ = ["lazy_attributes"]


def lazy_attributes(package: str, attributes: Mapping[str, str]) -> Callable[[str], object]:
    """A module ``__getattr__`` that imports ``attributes[name]`` (a module) on first use
    and returns its ``name``.

    Args:
        package: The package's name (``__name__``), for the message of an unknown attribute.
        attributes: Attribute name → the dotted name of the module that defines it.

    Example:
        >>> getter = lazy_attributes("demo", {"sqrt": "math"})
        >>> getter("sqrt")(4.0)
        2.0
        >>> getter("cbrt")
        Traceback (most recent call last):
        ...
        AttributeError: module 'demo' has no attribute 'cbrt'
    """
    attributes = dict(attributes)

    def __getattr__(name: str) -> object:
        if name in attributes:
            return getattr(importlib.import_module(attributes[name]), name)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    return __getattr__
