"""Transposed convolutions whose kernel equals their stride, computed as one matrix product.

A U-Net's decoder upsamples with a transposed convolution of kernel 2 and stride 2
(nnU-Net's choice). Its output patches do not overlap, so each input voxel simply
becomes a ``2 × 2 × 2`` block: the layer is a matrix product of every voxel's
features with an ``(in, 8 × out)`` matrix, followed by a reshuffle of the blocks into
place ("depth to space"). That is what these layers compute.

Why not Keras' own ``Conv3DTranspose``: on the JAX backend its gradient with respect
to the kernel is a convolution with a kernel the size of the whole image, which XLA
does not recognise as a weight-gradient convolution. On an NVIDIA H200 one such
layer at 64³ × 64 → 128³ × 32 took 1.5 ms forward and **185 ms** forward + backward,
and in a profiler trace the transposed convolutions of ``nnunet_3d`` took about
90 % of its 128³ bfloat16 training step
(``benchmarks/results/step_breakdown-NVIDIA_H200-2026-11-27.md``). As matrix
products, forward and backward run as dense GEMMs on every backend.

The layers are subclasses of ``Conv2DTranspose``/``Conv3DTranspose`` with the same
weights (kernel ``(*kernel_size, filters, in_channels)``, bias), configuration and
results; they only refuse what they do not compute (a kernel other than the
stride, dilation, output padding, channels-first data).
"""

from __future__ import annotations

import math
from typing import Any

import keras

from unetseg.errors import ConfigError

__all__ = ["NonOverlappingConv2DTranspose", "NonOverlappingConv3DTranspose"]


class _NonOverlappingMixin:
    """Checks and ``call`` of a transposed convolution with ``kernel_size == strides``."""

    kernel_size: tuple[int, ...]
    strides: tuple[int, ...]
    filters: int

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)  # the Keras layer's, next in the MRO
        self._check_non_overlapping()

    def _check_non_overlapping(self) -> None:
        name = type(self).__name__
        if tuple(self.kernel_size) != tuple(self.strides):
            raise ConfigError(
                f"{name} needs kernel_size == strides, got kernel_size={self.kernel_size}, "
                f"strides={self.strides}; use keras.layers.Conv{len(self.strides)}DTranspose."
            )
        if any(rate != 1 for rate in self.dilation_rate):
            raise ConfigError(f"{name} takes no dilation, got {self.dilation_rate}.")
        if self.output_padding is not None:
            raise ConfigError(f"{name} takes no output_padding, got {self.output_padding}.")
        if self.data_format != "channels_last":
            raise ConfigError(f"{name} is channels-last only, got {self.data_format!r}.")

    def call(self, inputs: Any) -> Any:
        ops = keras.ops
        dims = len(self.strides)
        blocks = tuple(self.strides)
        shape = ops.shape(inputs)
        in_channels = inputs.shape[-1]
        # kernel (*blocks, filters, in) -> (in, *blocks, filters) -> (in, prod(blocks) * filters)
        kernel = ops.transpose(self.kernel, (dims + 1, *range(dims), dims))
        kernel = ops.reshape(kernel, (in_channels, math.prod(blocks) * self.filters))
        outputs = ops.matmul(inputs, kernel)
        spatial = [shape[1 + axis] for axis in range(dims)]
        outputs = ops.reshape(outputs, (-1, *spatial, *blocks, self.filters))
        # (batch, s1, .., sn, b1, .., bn, f) -> (batch, s1, b1, .., sn, bn, f)
        order = [0]
        for axis in range(dims):
            order += [1 + axis, 1 + dims + axis]
        outputs = ops.transpose(outputs, (*order, 2 * dims + 1))
        size = [spatial[axis] * blocks[axis] for axis in range(dims)]
        outputs = ops.reshape(outputs, (-1, *size, self.filters))
        if self.use_bias:
            outputs = outputs + self.bias
        if self.activation is not None:
            outputs = self.activation(outputs)
        return outputs


@keras.saving.register_keras_serializable(package="unetseg")
class NonOverlappingConv2DTranspose(_NonOverlappingMixin, keras.layers.Conv2DTranspose):
    """``keras.layers.Conv2DTranspose`` with ``kernel_size == strides``, as a matrix product.

    Same arguments, weights and results as Keras' layer (``padding`` "valid" and
    "same" coincide here); raises :class:`~unetseg.errors.ConfigError` for a kernel
    other than the stride, dilation, ``output_padding`` or channels-first data.

    Args:
        *args: The positional arguments of ``keras.layers.Conv2DTranspose`` (``filters``,
            ``kernel_size``, ``strides``, ...).
        **kwargs: Its keyword arguments; ``strides`` must equal ``kernel_size``.
    """


@keras.saving.register_keras_serializable(package="unetseg")
class NonOverlappingConv3DTranspose(_NonOverlappingMixin, keras.layers.Conv3DTranspose):
    """``keras.layers.Conv3DTranspose`` with ``kernel_size == strides``, as a matrix product.

    Same arguments, weights and results as Keras' layer (``padding`` "valid" and
    "same" coincide here); raises :class:`~unetseg.errors.ConfigError` for a kernel
    other than the stride, dilation, ``output_padding`` or channels-first data.

    Args:
        *args: The positional arguments of ``keras.layers.Conv3DTranspose`` (``filters``,
            ``kernel_size``, ``strides``, ...).
        **kwargs: Its keyword arguments; ``strides`` must equal ``kernel_size``.
    """
