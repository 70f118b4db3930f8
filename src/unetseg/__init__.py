"""unetseg: U-Net segmentation of medical volumes with Keras 3.

The package is organised in layers; imports only point down:

- foundation: :mod:`unetseg.errors`, :mod:`unetseg.registry`, :mod:`unetseg.info`;
- building blocks: transforms, networks, losses, metrics (each its own subpackage);
- data, inference and training on top of them.

``import unetseg`` is light: it does not import Keras or a backend. The
subpackages that need Keras import it themselves. Before they do, it makes sure the
backend Keras will start is installed (:func:`unetseg.backends.choose_backend`):
without TensorFlow and with no backend chosen, Keras starts JAX or PyTorch. It also
turns on TensorFlow's oneDNN CPU kernels unless ``TF_ENABLE_ONEDNN_OPTS`` says
otherwise (:func:`unetseg.backends.enable_onednn`).
"""

from unetseg.backends import choose_backend, enable_onednn
from unetseg.errors import (
    ConfigError,
    DataError,
    MissingDependencyError,
    PluginWarning,
    RegistrationError,
    UnetsegError,
    UnknownNameError,
)
from unetseg.registry import Registry, all_registries

__version__ = "0.1.0.dev0"

choose_backend()
enable_onednn()

__all__ = [
    "ConfigError",
    "DataError",
    "MissingDependencyError",
    "PluginWarning",
    "RegistrationError",
    "Registry",
    "UnetsegError",
    "UnknownNameError",
    "__version__",
    "all_registries",
]
