"""Which Keras backend starts: the one you chose, else one that is installed.

Keras starts the backend named by ``KERAS_BACKEND``, else the one in its
``keras.json`` (``$KERAS_HOME`` or ``~/.keras``), else TensorFlow — and Keras writes
``"backend": "tensorflow"`` into a new ``keras.json`` the first time it runs, chosen
or not. unetseg does not depend on TensorFlow (``pip install "unetseg[jax]"`` brings
no TensorFlow), so on ``import unetseg``, before Keras starts, :func:`choose_backend`
checks that the configured backend is installed and, when it is not and
``KERAS_BACKEND`` is unset, sets ``KERAS_BACKEND`` to the first installed of
TensorFlow, JAX and PyTorch. A backend you set in ``KERAS_BACKEND`` is never changed.

It also turns on TensorFlow's oneDNN kernels (:func:`enable_onednn`), which
TensorFlow enables by itself only on some Intel CPUs: on other x86 CPUs its own 3D
convolution gradients are several times slower.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

__all__ = [
    "BACKENDS",
    "accelerator_visible",
    "choose_backend",
    "configured_backend",
    "enable_onednn",
    "installed_backends",
]

#: The Keras backends unetseg runs on, in the order it picks one, with the extra
#: (``pip install "unetseg[extra]"``) that installs each.
BACKENDS: dict[str, str] = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}


def _is_installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken install, or a module without a spec
        return False


def installed_backends() -> list[str]:
    """The Keras backends whose package is installed, in :data:`BACKENDS` order."""
    return [name for name in BACKENDS if _is_installed(name)]


def configured_backend() -> str:
    """The backend Keras would start now: ``KERAS_BACKEND``, else ``keras.json``'s,
    else ``"tensorflow"`` (Keras's default). Reads the file; imports nothing."""
    chosen = os.environ.get("KERAS_BACKEND")
    if chosen:
        return chosen
    home = os.environ.get("KERAS_HOME")
    if home is None:
        base = os.path.expanduser("~")
        home = os.path.join(base if os.access(base, os.W_OK) else "/tmp", ".keras")
    try:
        stored = json.loads(Path(home, "keras.json").expanduser().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "tensorflow"
    backend = stored.get("backend") if isinstance(stored, dict) else None
    return backend if isinstance(backend, str) and backend else "tensorflow"


def choose_backend() -> str | None:
    """Make Keras start an installed backend when none that is installed was chosen.

    Does nothing once Keras is imported (its backend is fixed then) or when
    ``KERAS_BACKEND`` is set. Otherwise, if the backend from ``keras.json`` (or Keras's
    default, TensorFlow) is one of :data:`BACKENDS` and not installed, sets
    ``KERAS_BACKEND`` to the first installed one of them.

    Returns:
        The backend it set in ``KERAS_BACKEND``, or ``None`` when it left the choice to
        Keras (chosen already, installed, or no backend installed at all — then starting
        Keras fails and the command line says which extra to install).
    """
    if "keras" in sys.modules or os.environ.get("KERAS_BACKEND"):
        return None
    configured = configured_backend()
    if configured not in BACKENDS or _is_installed(configured):
        return None  # installed, or a backend without a package of its own ("numpy")
    installed = installed_backends()
    if not installed:
        return None
    os.environ["KERAS_BACKEND"] = installed[0]
    return installed[0]


def enable_onednn() -> bool:
    """Make TensorFlow use its oneDNN CPU kernels unless told otherwise.

    TensorFlow turns oneDNN on by default only on Intel CPUs with AVX-512 VNNI and
    newer; elsewhere (AMD, older Intel) its convolutions run on Eigen, whose 3D
    gradients are slow. On a 2-core AMD EPYC (AVX2) the quick recipe's training step
    took 1.32 s with Eigen and 0.16 s with oneDNN; a strided 3×3×3 convolution's
    backward pass 321 ms against 8 ms (``benchmarks/results/layer_times-*``).

    Sets ``TF_ENABLE_ONEDNN_OPTS=1`` when the variable is unset and TensorFlow is not
    imported yet (it reads the variable once, on import). ``TF_ENABLE_ONEDNN_OPTS=0``
    keeps Eigen. Other backends ignore the variable.

    Returns:
        Whether it set the variable.
    """
    if "tensorflow" in sys.modules or "TF_ENABLE_ONEDNN_OPTS" in os.environ:
        return False
    os.environ["TF_ENABLE_ONEDNN_OPTS"] = "1"
    return True


def accelerator_visible() -> bool:
    """Whether the running Keras backend computes on a GPU (or another accelerator).

    Imports Keras (and starts its backend). TensorFlow: a logical GPU device; JAX: a
    default backend other than ``"cpu"``; PyTorch: CUDA (or Apple's MPS) available;
    any other backend: ``False``.

    Example:
        >>> isinstance(accelerator_visible(), bool)  # True on a machine with a GPU
        True
    """
    import keras

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        return bool(tf.config.list_logical_devices("GPU"))
    if backend == "jax":
        import jax

        return jax.default_backend() != "cpu"
    if backend == "torch":
        import torch

        mps = getattr(torch.backends, "mps", None)
        return torch.cuda.is_available() or bool(mps is not None and mps.is_available())
    return False
