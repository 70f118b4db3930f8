"""Named U-Net configurations: ``classic_2d``, ``nnunet_3d`` and ``seed_2d``.

Each preset is a function that returns a :class:`~unetseg.networks.UNetConfig`,
registered in :data:`NETWORKS`; keyword arguments override any field::

    from unetseg.networks import NETWORKS

    model = NETWORKS.create("nnunet_3d", input_size=(128, 128, 128)).build()
"""

from __future__ import annotations

from typing import Any

from unetseg.networks.unet import UNetConfig
from unetseg.registries import NETWORKS

__all__ = ["NETWORKS", "classic_2d", "nnunet_3d", "seed_2d"]


def _with(defaults: dict[str, Any], overrides: dict[str, Any]) -> UNetConfig:
    return UNetConfig(**{**defaults, **overrides})


@NETWORKS.register("classic_2d")
def classic_2d(**overrides: Any) -> UNetConfig:
    """The U-Net of Ronneberger et al. (2015), in its common "same"-padded form.

    Five stages of 64–1024 features, two 3×3 convolutions with ReLU per stage, 2×2
    max pooling, 2×2 transposed convolutions, no normalisation, a 1×1 output
    convolution. For 1 → 1 channels it has 31,030,593 parameters.

    Args:
        **overrides: :class:`~unetseg.networks.UNetConfig` fields, overriding the preset's values.
    """
    defaults = {
        "spatial_dims": 2,
        "in_channels": 1,
        "out_channels": 1,
        "features": [64, 128, 256, 512, 1024],
        "kernel_sizes": 3,
        "strides": [1, 2, 2, 2, 2],
        "downsample": "max_pool",
        "upsample": "transpose",
        "norm": "none",
        "activation": "relu",
        "kernel_initializer": "he_normal",
        "name": "classic_2d",
    }
    return _with(defaults, overrides)


@NETWORKS.register("nnunet_3d")
def nnunet_3d(**overrides: Any) -> UNetConfig:
    """nnU-Net's 3D full-resolution plan for BraTS (128³ patches).

    Six stages of 32–64–128–256–320–320 features, 3×3×3 kernels, strided
    convolutions for downsampling (strides 1, 2, 2, 2, 2, 2), two convolutions per
    stage, instance normalisation, leaky ReLU (0.01), transposed convolutions,
    deep supervision; 4 MRI modalities in, 3 region logits (WT, TC, ET) out.

    Args:
        **overrides: :class:`~unetseg.networks.UNetConfig` fields, overriding the preset's values.
    """
    defaults = {
        "spatial_dims": 3,
        "in_channels": 4,
        "out_channels": 3,
        "num_stages": 6,
        "base_features": 32,
        "max_features": 320,
        "kernel_sizes": 3,
        "strides": [1, 2, 2, 2, 2, 2],
        "downsample": "conv",
        "upsample": "transpose",
        "norm": "instance",
        "activation": "leaky_relu",
        "deep_supervision": True,
        "name": "nnunet_3d",
    }
    return _with(defaults, overrides)


@NETWORKS.register("seed_2d")
def seed_2d(**overrides: Any) -> UNetConfig:
    """The 2D U-Net of the notebook unetseg started from.

    Input 128×128 with two channels (FLAIR and T1ce); five stages of 32–512
    features with two 3×3 ReLU convolutions each, he_normal initialisation, no
    normalisation, 2×2 max pooling, dropout 0.2 after the bottleneck, upsampling
    by repetition followed by a 2×2 ReLU convolution, and a softmax over four
    classes (background, necrotic core, oedema, enhancing tumour).

    Args:
        **overrides: :class:`~unetseg.networks.UNetConfig` fields, overriding the preset's values.
    """
    defaults = {
        "spatial_dims": 2,
        "in_channels": 2,
        "out_channels": 4,
        "input_size": (128, 128),
        "features": [32, 64, 128, 256, 512],
        "kernel_sizes": 3,
        "strides": [1, 2, 2, 2, 2],
        "downsample": "max_pool",
        "upsample": "nearest",
        "norm": "none",
        "activation": "relu",
        "dropout": 0.2,
        "dropout_at": "bottleneck",
        "output_activation": "softmax",
        "kernel_initializer": "he_normal",
        "name": "seed_2d",
    }
    return _with(defaults, overrides)
