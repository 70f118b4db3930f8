"""Lazy imports of optional dependencies, with an error that names the extra to install.

unetseg's core needs only Keras, NumPy, SciPy, nibabel and rich. The Keras backend
(TensorFlow, JAX or PyTorch), albumentations and matplotlib are optional: a module
that uses one imports it through :func:`require` at the point of use, so
``import unetseg`` never fails for want of them and the user learns exactly what to
install.
"""

from __future__ import annotations

import importlib
import types

from unetseg.errors import MissingDependencyError

__all__ = ["EXTRAS", "require"]

#: The ``pip install "unetseg[extra]"`` extra that provides each optional module.
EXTRAS: dict[str, str] = {
    "albumentations": "augment",
    "matplotlib": "viz",
    "tensorflow": "tensorflow",
    "jax": "jax",
    "torch": "torch",
    "monai": "bench",
    "onnx": "export",
    "onnxruntime": "export",
    "tf2onnx": "export",
}


def require(module: str, *, purpose: str | None = None) -> types.ModuleType:
    """Import an optional dependency, or explain how to install it.

    Args:
        module: The module to import, for example ``"albumentations"`` or
            ``"matplotlib.pyplot"``.
        purpose: What needs it, for the message (``"overlay pictures"``).

    Returns:
        The imported module.

    Raises:
        MissingDependencyError: If the module (or its top-level package) is not
            installed. The message names the extra that provides it.

    Example:
        >>> json = require("json")
        >>> require("a_module_that_does_not_exist", purpose="the example")
        Traceback (most recent call last):
        ...
        unetseg.errors.MissingDependencyError: the example needs the optional package 'a_module_that_does_not_exist', which is not installed. Install it with: pip install a_module_that_does_not_exist
    """  # noqa: E501
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        top_level = module.split(".")[0]
        if error.name is not None and error.name.split(".")[0] != top_level:
            raise  # the optional package is there but one of *its* imports is broken
        extra = EXTRAS.get(top_level)
        how = f'pip install "unetseg[{extra}]"' if extra else f"pip install {top_level}"
        who = purpose or "unetseg"
        raise MissingDependencyError(
            f"{who} needs the optional package {top_level!r}, which is not installed. "
            f"Install it with: {how}"
        ) from error
