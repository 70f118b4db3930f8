"""Normalisation and activation layers by name: the ``NORMS`` and ``ACTIVATION_LAYERS`` registries.

A network configuration names its normalisation and activation —
``"instance"``, ``("group", {"groups": 8})``, ``"leaky_relu"``,
``("leaky_relu", {"negative_slope": 0.1})`` — and the builder creates a fresh
layer from the registry for every use. Register your own layer once and use it
by name::

    from unetseg.networks import NORMS

    @NORMS.register("my_norm")
    class MyNorm(keras.layers.Layer):
        ...

Entries are callables that take keyword arguments and return a Keras layer (a
layer class is such a callable); ``"none"`` returns ``None``. Both registries
are pluggable through the entry-point groups ``unetseg.norms`` and
``unetseg.activations``, and register their entries with Keras, so a model using
a registered custom layer loads without ``custom_objects``.
"""

from __future__ import annotations

from typing import Any

import keras

from unetseg.errors import ConfigError
from unetseg.registries import ACTIVATION_LAYERS, NORMS

__all__ = [
    "ACTIVATION_LAYERS",
    "NORMS",
    "ChannelPReLU",
    "create_activation",
    "create_norm",
    "spec_to_json",
]


@NORMS.register("batch")
def batch_norm(**kwargs: Any) -> keras.layers.Layer:
    """Batch normalisation over the batch and spatial axes, per channel."""
    return keras.layers.BatchNormalization(**kwargs)


@NORMS.register("instance")
def instance_norm(**kwargs: Any) -> keras.layers.Layer:
    """Instance normalisation: per sample and channel, over the spatial axes (nnU-Net's choice)."""
    return keras.layers.GroupNormalization(groups=-1, epsilon=kwargs.pop("epsilon", 1e-5), **kwargs)


@NORMS.register("group")
def group_norm(groups: int = 8, **kwargs: Any) -> keras.layers.Layer:
    """Group normalisation: per sample over groups of channels and the spatial axes."""
    return keras.layers.GroupNormalization(groups=groups, **kwargs)


@NORMS.register("layer")
def layer_norm(**kwargs: Any) -> keras.layers.Layer:
    """Layer normalisation: per sample over all channels and spatial positions."""
    return keras.layers.GroupNormalization(groups=1, **kwargs)


@NORMS.register("none")
def no_norm(name: str | None = None, **kwargs: Any) -> None:
    """No normalisation (``name`` is accepted and ignored, as for the other norms)."""
    if kwargs:
        raise ConfigError(f"norm 'none' takes no arguments, got {sorted(kwargs)}.")
    return None


@ACTIVATION_LAYERS.register("relu")
def relu(**kwargs: Any) -> keras.layers.Layer:
    """Rectified linear unit."""
    return keras.layers.ReLU(**kwargs)


@ACTIVATION_LAYERS.register("leaky_relu")
def leaky_relu(negative_slope: float = 0.01, **kwargs: Any) -> keras.layers.Layer:
    """Leaky ReLU; the default slope 0.01 is nnU-Net's."""
    return keras.layers.LeakyReLU(negative_slope=negative_slope, **kwargs)


@ACTIVATION_LAYERS.register("prelu")
class ChannelPReLU(keras.layers.Layer):
    """Parametric ReLU with one learned slope per channel, shared over space.

    Keras' own ``PReLU`` learns a slope per *element* unless told which axes to
    share, which ties it to one input size; this layer works for 2D and 3D inputs of
    any size, like PyTorch's ``nn.PReLU(num_parameters=C)``.

    Args:
        alpha_initializer: Initial slopes (0.25, as in He et al., 2015).
        **kwargs: Keras layer arguments.
    """

    def __init__(self, alpha_initializer: Any = 0.25, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha_initializer = alpha_initializer

    def build(self, input_shape: Any) -> None:
        initializer = self.alpha_initializer
        if isinstance(initializer, (int, float)):
            initializer = keras.initializers.Constant(float(initializer))
        self.alpha = self.add_weight(
            shape=(input_shape[-1],), initializer=initializer, name="alpha"
        )

    def call(self, inputs: Any) -> Any:
        alpha = keras.ops.cast(self.alpha, inputs.dtype)
        return keras.ops.where(inputs >= 0, inputs, alpha * inputs)

    def get_config(self) -> dict[str, Any]:
        initializer = self.alpha_initializer
        if not isinstance(initializer, (int, float, str)):
            initializer = keras.initializers.serialize(initializer)
        return {**super().get_config(), "alpha_initializer": initializer}


def _named_activation(name: str) -> Any:
    def factory(**kwargs: Any) -> keras.layers.Layer:
        return keras.layers.Activation(name, **kwargs)

    factory.__name__ = name
    factory.__doc__ = f"The ``{name}`` activation as a layer."
    return factory


for _name in ("gelu", "silu", "elu", "selu", "tanh", "sigmoid", "mish", "softplus"):
    ACTIVATION_LAYERS.register(_name, _named_activation(_name))
ACTIVATION_LAYERS.register("swish", ACTIVATION_LAYERS.get("silu"))


def create_norm(spec: Any, **kwargs: Any) -> Any:
    """Create a normalisation layer (or ``None``) from a name or ``(name, kwargs)``.

    Args:
        spec: A name of :data:`NORMS` (``"instance"``), a ``(name, kwargs)`` pair, or
            ``None`` for no layer.
        **kwargs: Keyword arguments of the layer, added to (and overriding) those of ``spec``.
    """
    return None if spec is None else NORMS.create(spec, **kwargs)


def create_activation(spec: Any, **kwargs: Any) -> Any:
    """Create an activation layer from a name or ``(name, kwargs)``.

    Args:
        spec: A name of :data:`ACTIVATION_LAYERS` (``"leaky_relu"``) or a ``(name, kwargs)``
            pair.
        **kwargs: Keyword arguments of the layer, added to (and overriding) those of ``spec``.
    """
    return ACTIVATION_LAYERS.create(spec, **kwargs)


def spec_to_json(spec: Any) -> Any:
    """A name or ``(name, kwargs)`` in JSON form: a string or ``[name, kwargs]``."""
    if spec is None or isinstance(spec, str):
        return spec
    name, options = NORMS.split_spec(spec)
    return [name, dict(options)]
