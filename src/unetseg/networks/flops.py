"""Counting the floating-point operations of a model from its layers.

Convolutions and transposed convolutions are nearly all the work of a U-Net;
:func:`count_flops` counts their multiply–adds (two FLOPs each) from the layer
shapes, plus dense layers. Normalisation, activations and pooling add a few
operations per element, under 1 % for the networks here, and are not counted.
A training step costs about three forward passes (the backward pass computes
gradients for both activations and weights).
"""

from __future__ import annotations

import math
from typing import Any

import keras

from unetseg.errors import ConfigError

__all__ = ["count_flops"]

_CONVOLUTIONS = (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
_TRANSPOSED = (
    keras.layers.Conv1DTranspose,
    keras.layers.Conv2DTranspose,
    keras.layers.Conv3DTranspose,
)


def _layers(model: keras.Model) -> list[Any]:
    found = []
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            found += _layers(layer)
        else:
            found.append(layer)
    return found


def _shape(tensor_shape: Any, layer: Any) -> tuple[int, ...]:
    shape = tuple(tensor_shape[1:])
    if any(s is None for s in shape):
        raise ConfigError(
            f"Counting FLOPs needs a fixed input size; layer {layer.name!r} has shape "
            f"{tuple(tensor_shape)}. Build the network with input_size set."
        )
    return shape


def count_flops(model: keras.Model, batch_size: int = 1) -> dict[str, int]:
    """Count the FLOPs of a forward pass and of a training step.

    Args:
        model: A built Keras model with a fixed input size.
        batch_size: Samples per step.

    Returns:
        ``{"forward": ..., "training_step": ...}``: FLOPs of the forward pass and of
        a training step (3 × forward), for ``batch_size`` samples.

    Raises:
        ConfigError: If a layer's spatial size is unknown.

    Example:
        >>> inputs = keras.Input((8, 8, 1))
        >>> model = keras.Model(inputs, keras.layers.Conv2D(4, 3, padding="same")(inputs))
        >>> count_flops(model)["forward"]  # 8·8 positions × 3·3·1·4 multiply-adds × 2
        4608
    """
    forward = 0
    for layer in _layers(model):
        if isinstance(layer, _CONVOLUTIONS):
            out_shape = _shape(layer.output.shape, layer)
            in_channels = layer.input.shape[-1]
            per_position = math.prod(layer.kernel_size) * in_channels * layer.filters
            forward += 2 * per_position * math.prod(out_shape[:-1])
        elif isinstance(layer, _TRANSPOSED):
            in_shape = _shape(layer.input.shape, layer)
            per_position = math.prod(layer.kernel_size) * in_shape[-1] * layer.filters
            forward += 2 * per_position * math.prod(in_shape[:-1])
        elif isinstance(layer, keras.layers.Dense):
            in_shape = _shape(layer.input.shape, layer)
            forward += 2 * math.prod(in_shape) * layer.units
    forward *= batch_size
    return {"forward": forward, "training_step": 3 * forward}
