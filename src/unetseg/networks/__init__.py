"""U-Nets for 2D and 3D segmentation, configured by :class:`~unetseg.networks.UNetConfig`.

- :class:`UNetConfig`: every option of the network; ``build()`` returns a
  ``keras.Model``; ``to_json``/``from_json`` round-trip the configuration.
- :data:`NETWORKS`: presets ``classic_2d``, ``nnunet_3d``, ``seed_2d``.
- :data:`NORMS` and :data:`ACTIVATION_LAYERS`: layers by name.
- :func:`count_flops`: FLOPs of a forward pass and a training step.
- :func:`output_activation`: whether a built model outputs logits or probabilities.
- :class:`NonOverlappingConv2DTranspose`, :class:`NonOverlappingConv3DTranspose`:
  the decoder's transposed convolutions (kernel = stride) as matrix products.
- :class:`MatmulGradientConv2D`: the 2D convolution, its kernel gradient as matrix
  products on TensorFlow's CPU.
"""

from unetseg.networks.convolution import MatmulGradientConv2D
from unetseg.networks.factories import (
    ACTIVATION_LAYERS,
    NORMS,
    ChannelPReLU,
    create_activation,
    create_norm,
)
from unetseg.networks.flops import count_flops
from unetseg.networks.outputs import output_activation
from unetseg.networks.presets import NETWORKS, classic_2d, nnunet_3d, seed_2d
from unetseg.networks.unet import UNetConfig
from unetseg.networks.upsampling import (
    NonOverlappingConv2DTranspose,
    NonOverlappingConv3DTranspose,
)

__all__ = [
    "ACTIVATION_LAYERS",
    "NETWORKS",
    "NORMS",
    "ChannelPReLU",
    "MatmulGradientConv2D",
    "NonOverlappingConv2DTranspose",
    "NonOverlappingConv3DTranspose",
    "UNetConfig",
    "classic_2d",
    "count_flops",
    "create_activation",
    "create_norm",
    "nnunet_3d",
    "output_activation",
    "seed_2d",
]
