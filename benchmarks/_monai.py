"""The MONAI side of the benchmarks' ``--compare monai`` mode.

MONAI and PyTorch come from the ``bench`` extra (``pip install -e ".[bench]"``).
Without them :func:`missing` returns the message a benchmark prints before it
skips the comparison. The network is MONAI's ``DynUNet`` built from the same
:class:`~unetseg.networks.UNetConfig` as ours: the same stages, features, kernels,
strides, instance normalisation, leaky ReLU (0.01), transposed convolutions and
deep-supervision heads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from _common import installed

if TYPE_CHECKING:  # importing unetseg.networks imports Keras: not before the backend is set
    from unetseg.networks import UNetConfig

SKIPPED = (
    'MONAI comparison skipped: MONAI and PyTorch are not installed (pip install -e ".[bench]").'
)


def skip_reason(compare: str | None) -> str | None:
    """Why a ``--compare monai`` run skips MONAI (printed), or ``None``.

    ``None`` also when no comparison was asked for (``compare`` is not ``"monai"``).
    """
    if compare != "monai" or (installed("monai") and installed("torch")):
        return None
    print(SKIPPED)
    return SKIPPED


def brats_transforms(
    patch: int, num_samples: int, *, augment: bool = True, contrast: bool = True
) -> Any:
    """MONAI's dictionary transforms for the benchmarks' BraTS training pipeline.

    Load → regions → z-score inside the brain → crop to the brain; with ``augment``
    also pad to ``patch`` (as our patch sampler does), ``num_samples`` patches of
    ``patch``³ (half on tumour), flips on every axis and intensity augmentation
    (``RandAdjustContrastd`` too with ``contrast``).
    """
    from monai import transforms as mt

    keys = ["image", "label"]
    steps = [
        mt.LoadImaged(keys, image_only=True),
        mt.EnsureChannelFirstd(keys),
        mt.ConvertToMultiChannelBasedOnBratsClassesd("label"),
        mt.NormalizeIntensityd("image", nonzero=True, channel_wise=True),
        mt.CropForegroundd(keys, source_key="image", allow_smaller=True),
    ]
    if augment:
        size = (patch,) * 3
        steps += [
            mt.SpatialPadd(keys, spatial_size=size),
            mt.RandCropByPosNegLabeld(
                keys, label_key="label", spatial_size=size, pos=1, neg=1, num_samples=num_samples
            ),
            *(mt.RandFlipd(keys, prob=0.5, spatial_axis=axis) for axis in range(3)),
            mt.RandScaleIntensityd("image", factors=0.1, prob=1.0),
            mt.RandShiftIntensityd("image", offsets=0.1, prob=1.0),
            mt.RandGaussianNoised("image", prob=0.15, std=0.1),
        ]
        if contrast:
            steps.append(mt.RandAdjustContrastd("image", prob=0.15))
    return mt.Compose(steps)


def torch_device() -> Any:
    """The first CUDA device if there is one, else the CPU."""
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def dynunet(config: UNetConfig) -> Any:
    """MONAI's ``DynUNet`` with the stages of ``config`` (one output in ``eval`` mode)."""
    from monai.networks.nets import DynUNet

    if config.downsample != "conv" or config.upsample != "transpose":
        raise ValueError("DynUNet downsamples by strided and upsamples by transposed convolutions")
    heads = config.num_deep_supervision_heads or len(config.features) - 1
    return DynUNet(
        spatial_dims=config.spatial_dims,
        in_channels=config.in_channels,
        out_channels=config.out_channels,
        kernel_size=[list(k) for k in config.kernel_sizes],
        strides=[list(s) for s in config.strides],
        upsample_kernel_size=[list(s) for s in config.strides[1:]],
        filters=list(config.features),
        norm_name=("instance", {"affine": True}),
        act_name=("leakyrelu", {"inplace": True, "negative_slope": 0.01}),
        deep_supervision=config.deep_supervision,
        # DynUNet counts the heads besides the full-resolution one, at most stages - 2.
        deep_supr_num=max(1, min(heads - 1, len(config.features) - 2)),
    )


def autocast(precision: str, device: Any) -> Any:
    """``torch.autocast`` for a Keras precision policy name (disabled for float32)."""
    import torch

    dtype = torch.float16 if precision == "mixed_float16" else torch.bfloat16
    return torch.autocast(device.type, dtype=dtype, enabled=precision != "float32")


def synchronize(device: Any) -> None:
    """Wait for the device's queued work, so a timer sees it finished."""
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)
