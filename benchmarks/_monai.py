"""The MONAI side of the benchmarks' ``--compare monai`` mode.

MONAI and PyTorch come from the ``bench`` extra (``pip install -e ".[bench]"``).
Without them :func:`missing` returns the message a benchmark prints before it
skips the comparison. The network is MONAI's ``DynUNet`` built from the same
:class:`~unetseg.networks.UNetConfig` as ours: the same stages, features, kernels,
strides, instance normalisation, leaky ReLU (0.01), transposed convolutions and
deep-supervision heads.
"""

from __future__ import annotations

from typing import Any

from _common import installed

from unetseg.networks import UNetConfig

SKIPPED = (
    'MONAI comparison skipped: MONAI and PyTorch are not installed (pip install -e ".[bench]").'
)


def missing() -> str | None:
    """``None`` when MONAI and PyTorch can be imported, else the message to print."""
    return None if installed("monai") and installed("torch") else SKIPPED


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
