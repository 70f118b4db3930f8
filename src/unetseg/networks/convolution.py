"""A 2D convolution whose kernel gradient is computed as matrix products on TensorFlow's CPU.

TensorFlow's CPU kernel for the gradient of a 2D convolution with respect to its
kernel (``Conv2DBackpropFilter``) is slow at the shapes of a 2D U-Net's first stages,
with or without oneDNN. On the 2-core AMD EPYC CI machine (float32, oneDNN on) a
3×3 convolution at 8×192×160×32 took 63 ms forward, 61 ms for the input gradient and
**185 ms for the kernel gradient** (``benchmarks/results/layer_times-2d-*``).

The kernel gradient of a convolution is a sum over output positions: for every tap
``(i, j)`` of the kernel, ``dW[i, j] = X_ij^T · dY``, where ``X_ij`` is the padded
input shifted by the tap (and strided like the convolution), flattened to
``(positions, in_channels)``, and ``dY`` the output gradient flattened to
``(positions, filters)``. Stacking the ``kw`` taps of a row along the channels
makes that ``kh`` matrix products of ``(positions, kw · in) × (positions, filters)``
— dense GEMMs, equal to TensorFlow's result to 2e-5 relative. The layer's backward
pass at 8×192×160×32 went from 217 to 151 ms
(``layer_times-2d-tensorflow-cpu-2026-12-02-matmul-gradient``).

:class:`MatmulGradientConv2D` is ``keras.layers.Conv2D`` with that gradient. It uses
it only where it was measured to help — TensorFlow backend, no GPU visible, float32,
stride 1, in training — and is Keras' own convolution everywhere else (other
backends, GPUs, inference, export), with the same weights, configuration and forward
results. With a stride of 2 the matrix products measured slower than TensorFlow's
kernel (278 against 93 ms for the layer's backward pass at 8×192×160×32), so strided
convolutions keep it; the function below handles strides all the same.
"""

from __future__ import annotations

import functools
from typing import Any

import keras

__all__ = ["MatmulGradientConv2D"]


@functools.cache
def _tensorflow_without_gpu() -> bool:
    """True when Keras runs on TensorFlow and TensorFlow sees no GPU."""
    from unetseg.backends import accelerator_visible

    return keras.backend.backend() == "tensorflow" and not accelerator_visible()


def _same_padding(size: Any, kernel: int, stride: int) -> tuple[Any, Any]:
    """TensorFlow's "same" padding before and after one axis (``size`` may be a tensor)."""
    import tensorflow as tf

    out = (size + stride - 1) // stride
    total = tf.maximum((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def _conv2d_matmul_kernel_gradient(
    inputs: Any, kernel: Any, strides: tuple[int, int], padding: str
) -> Any:
    """``tf.nn.conv2d`` (channels-last, no dilation) with the kernel gradient as GEMMs."""
    import tensorflow as tf

    kh, kw, in_channels, filters = kernel.shape
    sh, sw = strides
    tf_strides = [1, sh, sw, 1]
    tf_padding = padding.upper()

    @tf.custom_gradient
    def convolve(x: Any, w: Any) -> Any:
        y = tf.nn.conv2d(x, w, tf_strides, tf_padding)

        def gradient(dy: Any) -> tuple[Any, Any]:
            dx = tf.raw_ops.Conv2DBackpropInput(
                input_sizes=tf.shape(x),
                filter=w,
                out_backprop=dy,
                strides=tf_strides,
                padding=tf_padding,
            )
            x_shape = tf.shape(x)
            y_shape = tf.shape(dy)
            out_h, out_w = y_shape[1], y_shape[2]
            padded = x
            if tf_padding == "SAME":
                top, bottom = _same_padding(x_shape[1], kh, sh)
                left, right = _same_padding(x_shape[2], kw, sw)
                padded = tf.pad(x, [[0, 0], [top, bottom], [left, right], [0, 0]])
            # the kw taps of a kernel row side by side: (batch, rows, out_w, kw * in)
            columns = tf.concat(
                [padded[:, :, j : j + sw * (out_w - 1) + 1 : sw, :] for j in range(kw)], axis=-1
            )
            dy_flat = tf.reshape(dy, [-1, filters])
            rows = []
            for i in range(kh):
                taps = columns[:, i : i + sh * (out_h - 1) + 1 : sh]
                taps = tf.reshape(taps, [-1, kw * in_channels])
                rows.append(tf.matmul(taps, dy_flat, transpose_a=True))
            dw = tf.reshape(tf.stack(rows), [kh, kw, in_channels, filters])
            return dx, dw

        return y, gradient

    return convolve(inputs, tf.convert_to_tensor(kernel))


@keras.saving.register_keras_serializable(package="unetseg")
class MatmulGradientConv2D(keras.layers.Conv2D):
    """``keras.layers.Conv2D`` whose kernel gradient is matrix products on TensorFlow's CPU.

    Same arguments, weights and results as Keras' layer. In training on the
    TensorFlow backend with no GPU, float32, channels-last, stride 1, no dilation, one
    group and no LoRA, the gradient with respect to the kernel is computed as
    ``kernel_height`` matrix products of shifted inputs and the output gradient (see
    the module docstring for the measurement); everywhere else the layer is
    ``keras.layers.Conv2D``. A saved model holding it loads where unetseg is
    installed (``import unetseg`` registers it), like every unetseg layer.

    Args:
        *args: The positional arguments of ``keras.layers.Conv2D`` (``filters``,
            ``kernel_size``, ...).
        **kwargs: Its keyword arguments.
    """

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        if training and self._uses_matmul_gradient(inputs):
            outputs = _conv2d_matmul_kernel_gradient(
                inputs, self.kernel, tuple(self.strides), self.padding
            )
            if self.use_bias:
                outputs = outputs + self.bias
            if self.activation is not None:
                outputs = self.activation(outputs)
            return outputs
        return super().call(inputs)

    def _uses_matmul_gradient(self, inputs: Any) -> bool:
        return (
            _tensorflow_without_gpu()
            and self.data_format == "channels_last"
            and tuple(self.strides) == (1, 1)
            and tuple(self.dilation_rate) == (1, 1)
            and self.groups == 1
            and self.lora_enabled is False
            and keras.backend.standardize_dtype(inputs.dtype) == "float32"
            and keras.backend.standardize_dtype(self.kernel.dtype) == "float32"
        )
