"""The layers a :class:`~unetseg.networks.UNetConfig` is built from, wired with the functional API.

Layer names say where a layer sits (``encoder2_conv0``, ``decoder1_up``,
``decoder1_attention_psi``, ``head0``), so a model summary reads like the
configuration.
"""

from __future__ import annotations

from typing import Any

import keras

from unetseg.networks.convolution import MatmulGradientConv2D
from unetseg.networks.factories import create_activation, create_norm
from unetseg.networks.upsampling import (
    NonOverlappingConv2DTranspose,
    NonOverlappingConv3DTranspose,
)

__all__ = ["UNetBuilder"]


class UNetBuilder:
    """Build the Keras model described by a :class:`~unetseg.networks.UNetConfig`.

    The builder reads the configuration's (validated) fields and never imports its
    class, so the configuration module can import the builder.
    """

    def __init__(self, config: Any) -> None:
        self.config = config
        dims = config.spatial_dims
        # 2D: the kernel gradient as matrix products on TensorFlow's CPU (networks.convolution)
        self._conv = MatmulGradientConv2D if dims == 2 else keras.layers.Conv3D
        # kernel = stride: a matrix product (see networks.upsampling for why)
        self._conv_transpose = (
            NonOverlappingConv2DTranspose if dims == 2 else NonOverlappingConv3DTranspose
        )
        self._max_pool = keras.layers.MaxPooling2D if dims == 2 else keras.layers.MaxPooling3D
        self._upsampling = keras.layers.UpSampling2D if dims == 2 else keras.layers.UpSampling3D

    # -- small pieces ----------------------------------------------------------------

    def _convolution(self, x: Any, filters: int, kernel: Any, stride: Any, name: str) -> Any:
        return self._conv(
            filters,
            kernel,
            strides=stride,
            padding="same",
            use_bias=self.config.use_bias,
            kernel_initializer=self.config.kernel_initializer,
            name=name,
        )(x)

    def _norm_act(self, x: Any, name: str, activate: bool = True) -> Any:
        norm = create_norm(self.config.norm, name=f"{name}_norm")
        if norm is not None:
            x = norm(x)
        if activate:
            x = create_activation(self.config.activation, name=f"{name}_act")(x)
        return x

    def _conv_block(
        self, x: Any, filters: int, convs: int, kernel: Any, stride: Any, name: str
    ) -> Any:
        """``convs`` × (conv → norm → act); the first conv carries ``stride``.

        With ``residual``, the last activation comes after adding a shortcut (a 1×1
        convolution with the same stride when the shape changes), as in a ResNet
        basic block.
        """
        shortcut = x
        for index in range(convs):
            x = self._convolution(
                x, filters, kernel, stride if index == 0 else 1, f"{name}_conv{index}"
            )
            last = index == convs - 1
            x = self._norm_act(
                x, f"{name}_conv{index}", activate=not (last and self.config.residual)
            )
        if self.config.residual:
            needs_projection = shortcut.shape[-1] != filters or any(
                s != 1 for s in _as_tuple(stride)
            )
            if needs_projection:
                shortcut = self._convolution(shortcut, filters, 1, stride, f"{name}_shortcut")
                shortcut = self._norm_act(shortcut, f"{name}_shortcut", activate=False)
            x = keras.layers.Add(name=f"{name}_add")([x, shortcut])
            x = create_activation(self.config.activation, name=f"{name}_out_act")(x)
        return x

    def _dropout(self, x: Any, name: str) -> Any:
        return keras.layers.Dropout(self.config.dropout, name=f"{name}_dropout")(x)

    def _attention_gate(self, skip: Any, gate: Any, name: str) -> Any:
        """Weigh the skip features by ``sigmoid(ψ(act(W_x·skip + W_g·gate)))``.

        The gating signal is the upsampled decoder feature, at the skip's resolution
        (as MONAI's ``AttentionUnet``), so no resampling is needed.
        """
        inter = max(skip.shape[-1] // 2, 1)
        theta = self._convolution(skip, inter, 1, 1, f"{name}_attention_x")
        phi = self._convolution(gate, inter, 1, 1, f"{name}_attention_g")
        joint = keras.layers.Add(name=f"{name}_attention_add")([theta, phi])
        joint = keras.layers.ReLU(name=f"{name}_attention_relu")(joint)
        psi = self._convolution(joint, 1, 1, 1, f"{name}_attention_psi")
        alpha = keras.layers.Activation("sigmoid", name=f"{name}_attention_sigmoid")(psi)
        return keras.layers.Multiply(name=f"{name}_attention_gate")([skip, alpha])

    def _upsample(self, x: Any, filters: int, stride: tuple[int, ...], name: str) -> Any:
        if self.config.upsample == "transpose":
            return self._conv_transpose(
                filters,
                stride,
                strides=stride,
                padding="same",
                use_bias=self.config.use_bias,
                kernel_initializer=self.config.kernel_initializer,
                name=f"{name}_up",
            )(x)
        interpolation = {"nearest": "nearest", "bilinear": "bilinear"}[self.config.upsample]
        options = {"interpolation": interpolation} if self.config.spatial_dims == 2 else {}
        x = self._upsampling(size=stride, name=f"{name}_upsample", **options)(x)
        x = self._convolution(x, filters, stride, 1, f"{name}_up")
        return self._norm_act(x, f"{name}_up")

    def _head(self, x: Any, name: str) -> Any:
        logits = self._convolution(x, self.config.out_channels, 1, 1, name)
        # A float32 activation layer keeps the output (and the loss) in float32
        # under mixed precision, as Keras recommends.
        activation = self.config.output_activation or "linear"
        return keras.layers.Activation(activation, dtype="float32", name=f"{name}_output")(logits)

    # -- the network -----------------------------------------------------------------

    def build(self) -> keras.Model:
        config = self.config
        size = (
            tuple(config.input_size)
            if config.input_size is not None
            else (None,) * config.spatial_dims
        )
        inputs = keras.Input((*size, config.in_channels), name="image")
        x = inputs
        skips = []
        last = config.num_stages - 1
        for stage, (filters, kernel, stride, convs) in enumerate(
            zip(
                config.features,
                config.kernel_sizes,
                config.strides,
                config.encoder_convs,
                strict=True,
            )
        ):
            name = f"encoder{stage}"
            if config.downsample == "max_pool" and any(s != 1 for s in stride):
                x = self._max_pool(pool_size=stride, name=f"{name}_pool")(x)
                stride = 1
            x = self._conv_block(x, filters, convs, kernel, stride, name)
            if config.dropout and (config.dropout_at == "all" or stage == last):
                x = self._dropout(x, name)
            skips.append(x)

        outputs = []
        for stage in range(last - 1, -1, -1):
            name = f"decoder{stage}"
            x = self._upsample(x, config.features[stage], config.strides[stage + 1], name)
            skip = skips[stage]
            if config.attention:
                skip = self._attention_gate(skip, x, name)
            x = keras.layers.Concatenate(name=f"{name}_concat")([skip, x])
            x = self._conv_block(
                x,
                config.features[stage],
                config.decoder_convs[stage],
                config.kernel_sizes[stage],
                1,
                name,
            )
            if config.dropout and config.dropout_at == "all":
                x = self._dropout(x, name)
            outputs.append(x)

        if not outputs:  # a single stage: no decoder
            outputs = [x]
        outputs.reverse()  # highest resolution first
        if config.deep_supervision:
            heads = config.num_deep_supervision_heads or len(outputs)
            results = [
                self._head(features, f"head{i}") for i, features in enumerate(outputs[:heads])
            ]
            return keras.Model(inputs, results, name=config.name)
        return keras.Model(inputs, self._head(outputs[0], "head"), name=config.name)


def _as_tuple(value: Any) -> tuple[int, ...]:
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)
