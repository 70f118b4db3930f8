"""One configurable U-Net for 2D and 3D: :class:`UNetConfig` describes it, ``build()`` makes it.

The layout follows nnU-Net's ``PlainConvUNet``: a list of stages, each with its
number of features, kernel size and stride (anisotropic allowed) and a number of
convolutions; the decoder mirrors the encoder. Everything else is an option:
normalisation and activation by name (see ``unetseg.networks.factories``),
strided-convolution or max-pool downsampling, transposed-convolution or
interpolation upsampling, residual blocks, attention gates on the skip
connections, dropout and deep-supervision heads.

The configuration is a plain dataclass that round-trips through JSON
(:meth:`UNetConfig.to_json` / :meth:`UNetConfig.from_json`), and the model is
made of Keras layers only (plus registered ones), so ``model.save("m.keras")`` and
``keras.models.load_model("m.keras", safe_mode=True)`` need no ``custom_objects``.
"""

from __future__ import annotations

import dataclasses
import json
import math
from collections.abc import Sequence
from typing import Any

import keras

from unetseg.errors import ConfigError, check_choice
from unetseg.networks.blocks import UNetBuilder
from unetseg.networks.factories import (
    ACTIVATION_LAYERS,
    NORMS,
    spec_to_json,
)

__all__ = ["UNetConfig"]

_UPSAMPLING = ("transpose", "nearest", "bilinear")
_DOWNSAMPLING = ("conv", "max_pool")
_OUTPUT_ACTIVATIONS = (None, "sigmoid", "softmax")
_DROPOUT_PLACES = ("bottleneck", "all")


def _per_stage(value: Any, stages: int, spatial_dims: int, what: str) -> list[tuple[int, ...]]:
    """Expand an int, a per-axis tuple or a per-stage list into per-stage per-axis tuples."""
    if isinstance(value, int):
        return [(value,) * spatial_dims] * stages
    value = list(value)
    if (
        len(value) == spatial_dims
        and all(isinstance(v, int) for v in value)
        and stages != len(value)
    ):
        return [tuple(value)] * stages
    if len(value) != stages:
        raise ConfigError(
            f"{what} must be an int, one value per axis or one entry per stage ({stages}), "
            f"got {value!r}."
        )
    expanded = []
    for entry in value:
        entry = (entry,) * spatial_dims if isinstance(entry, int) else tuple(entry)
        if len(entry) != spatial_dims or not all(isinstance(v, int) and v >= 1 for v in entry):
            raise ConfigError(
                f"Each {what} entry must be a positive int or {spatial_dims} positive ints, "
                f"got {entry!r}."
            )
        expanded.append(entry)
    return expanded


@dataclasses.dataclass
class UNetConfig:
    """Everything that defines a U-Net. Create the model with :meth:`build`.

    Args:
        spatial_dims: 2 or 3.
        in_channels: Input channels (4 for the BraTS modalities).
        out_channels: Output channels (3 for the BraTS regions WT/TC/ET).
        input_size: Fixed spatial input size, or ``None`` (or ``None`` on some
            axes) for any size the total stride divides.
        num_stages: Encoder stages, the bottleneck included; ignored when
            ``features`` is given.
        features: Features per stage; by default ``base_features · 2^i`` capped at
            ``max_features`` (nnU-Net: 32 → 320).
        base_features: Features of the first stage.
        max_features: The cap.
        kernel_sizes: Convolution kernel per stage: an int, one int per axis, or one
            entry per stage (each an int or one int per axis).
        strides: Downsampling stride per stage, in the same forms; the first stage
            usually has stride 1. ``None``: 1 then 2 for every further stage.
        encoder_convs: Convolutions per encoder stage (an int or one per stage).
        decoder_convs: Convolutions per decoder stage (an int or one per stage).
        downsample: ``"conv"`` (the first convolution of a stage is strided, as
            nnU-Net) or ``"max_pool"`` (as the classic U-Net).
        upsample: ``"transpose"`` (a transposed convolution with kernel = stride),
            ``"nearest"`` or ``"bilinear"`` (2D only): interpolation followed by a
            convolution with kernel = stride, normalisation and activation.
        norm: ``"batch"``, ``"instance"``, ``"group"``, ``"layer"``, ``"none"`` or
            ``(name, kwargs)``; any name in :data:`~unetseg.networks.NORMS`.
        activation: ``"relu"``, ``"leaky_relu"``, ``"prelu"``, ``"gelu"``, ``"swish"``,
            … or ``(name, kwargs)``; any name in
            :data:`~unetseg.networks.ACTIVATION_LAYERS`.
        dropout: Dropout rate, 0 for none.
        dropout_at: ``"bottleneck"`` (after the deepest stage) or ``"all"`` (after
            every encoder and decoder stage).
        residual: Residual blocks (a shortcut around each stage's convolutions).
        attention: Attention gates (Oktay et al., 2018) on the skip connections.
        deep_supervision: Return one output per decoder stage, highest resolution
            first, instead of a single output.
        num_deep_supervision_heads: How many of those outputs (highest resolution
            first); ``None`` for every decoder stage.
        output_activation: ``None`` (logits; what unetseg's losses expect),
            ``"sigmoid"`` or ``"softmax"``. The output is float32 under mixed precision.
        kernel_initializer: Keras initializer of the convolutions.
        use_bias: Whether the convolutions have a bias.
        name: The model name.

    Raises:
        ConfigError: If an option is invalid; the message names it.

    Example:
        >>> config = UNetConfig(spatial_dims=2, in_channels=1, out_channels=2, num_stages=3,
        ...                     base_features=8, input_size=(32, 32))
        >>> config.features
        [8, 16, 32]
        >>> model = config.build()
        >>> model.output.shape
        (None, 32, 32, 2)
    """

    spatial_dims: int = 3
    in_channels: int = 4
    out_channels: int = 3
    input_size: Sequence[int | None] | None = None
    num_stages: int = 5
    features: Sequence[int] | None = None
    base_features: int = 32
    max_features: int = 320
    kernel_sizes: Any = 3
    strides: Any = None
    encoder_convs: int | Sequence[int] = 2
    decoder_convs: int | Sequence[int] = 2
    downsample: str = "conv"
    upsample: str = "transpose"
    norm: Any = "instance"
    activation: Any = "leaky_relu"
    dropout: float = 0.0
    dropout_at: str = "bottleneck"
    residual: bool = False
    attention: bool = False
    deep_supervision: bool = False
    num_deep_supervision_heads: int | None = None
    output_activation: str | None = None
    kernel_initializer: str = "he_normal"
    use_bias: bool = True
    name: str = "unet"

    def __post_init__(self) -> None:
        if self.spatial_dims not in (2, 3):
            raise ConfigError(f"spatial_dims must be 2 or 3, got {self.spatial_dims!r}.")
        for option in ("in_channels", "out_channels"):
            value = getattr(self, option)
            if not isinstance(value, int) or value < 1:
                raise ConfigError(f"{option} must be a positive integer, got {value!r}.")
        if self.features is None:
            if not isinstance(self.num_stages, int) or self.num_stages < 1:
                raise ConfigError(
                    f"num_stages must be a positive integer, got {self.num_stages!r}."
                )
            if self.base_features < 1 or self.max_features < self.base_features:
                raise ConfigError(
                    "base_features must be >= 1 and max_features >= base_features, got "
                    f"{self.base_features} and {self.max_features}."
                )
            self.features = [
                min(self.base_features * 2**i, self.max_features) for i in range(self.num_stages)
            ]
        self.features = [int(f) for f in self.features]
        if not self.features or min(self.features) < 1:
            raise ConfigError(f"features must be positive integers, got {self.features!r}.")
        self.num_stages = len(self.features)
        stages, dims = self.num_stages, self.spatial_dims
        self.kernel_sizes = _per_stage(self.kernel_sizes, stages, dims, "kernel_sizes")
        if self.strides is None:
            self.strides = [1] + [2] * (stages - 1)
        self.strides = _per_stage(self.strides, stages, dims, "strides")
        self.encoder_convs = self._counts(self.encoder_convs, stages, "encoder_convs")
        self.decoder_convs = self._counts(self.decoder_convs, stages - 1, "decoder_convs")
        self.downsample = check_choice(self.downsample, _DOWNSAMPLING, what="downsample")
        self.upsample = check_choice(self.upsample, _UPSAMPLING, what="upsample")
        if self.upsample == "bilinear" and dims == 3:
            raise ConfigError(
                "upsample='bilinear' is 2D only (Keras has no trilinear upsampling layer); "
                "use 'transpose' or 'nearest' for 3D."
            )
        self._check_norm()
        ACTIVATION_LAYERS.get(ACTIVATION_LAYERS.split_spec(self.activation)[0])
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"dropout must be in [0, 1), got {self.dropout}.")
        self.dropout_at = check_choice(self.dropout_at, _DROPOUT_PLACES, what="dropout_at")
        if self.output_activation not in _OUTPUT_ACTIVATIONS:
            self.output_activation = check_choice(
                self.output_activation, ("sigmoid", "softmax"), what="output_activation"
            )
        heads = self.num_deep_supervision_heads
        if heads is not None and not 1 <= heads <= max(stages - 1, 1):
            raise ConfigError(
                f"num_deep_supervision_heads must be between 1 and {max(stages - 1, 1)} "
                f"(the decoder stages), got {heads}."
            )
        if self.input_size is not None:
            self.input_size = self._check_input_size(self.input_size)

    def _check_norm(self) -> None:
        name, options = NORMS.split_spec(self.norm)
        if NORMS.get(name) is NORMS.get("group"):
            groups = options.get("groups", 8)
            uneven = [f for f in self.features if f % groups]
            if uneven:
                raise ConfigError(
                    f"Group normalisation with {groups} groups needs every stage's features "
                    f"to be a multiple of {groups}; {uneven} are not (features "
                    f"{self.features}). Pass norm=('group', {{'groups': g}}) with a g that "
                    "divides them."
                )

    @staticmethod
    def _counts(value: Any, count: int, what: str) -> list[int]:
        values = [value] * count if isinstance(value, int) else list(value)
        if len(values) != count or not all(isinstance(v, int) and v >= 1 for v in values):
            raise ConfigError(
                f"{what} must be a positive int or {count} positive ints (one per stage), "
                f"got {value!r}."
            )
        return values

    @property
    def total_strides(self) -> tuple[int, ...]:
        """The product of the strides on each axis; input sizes must be multiples of it."""
        return tuple(math.prod(s[axis] for s in self.strides) for axis in range(self.spatial_dims))

    def _check_input_size(self, input_size: Sequence[int | None]) -> list[int | None]:
        size = list(input_size)
        if len(size) != self.spatial_dims:
            raise ConfigError(
                f"input_size must have {self.spatial_dims} entries (one per spatial axis), "
                f"got {input_size!r}."
            )
        for axis, (length, multiple) in enumerate(zip(size, self.total_strides, strict=True)):
            if length is None:
                continue
            if not isinstance(length, int) or length < 1:
                raise ConfigError(f"input_size[{axis}] must be a positive int, got {length!r}.")
            if length % multiple:
                raise ConfigError(
                    f"Input size {length} on spatial axis {axis} is not a multiple of "
                    f"{multiple}, the total stride of the encoder on that axis; use a size "
                    f"such as {max(multiple, length // multiple * multiple)} or "
                    f"{(length // multiple + 1) * multiple}."
                )
        return size

    # -- JSON ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The configuration as JSON-compatible values (tuples become lists)."""
        values = dataclasses.asdict(self)
        values["norm"] = spec_to_json(self.norm)
        values["activation"] = spec_to_json(self.activation)
        return json.loads(json.dumps(values))

    def to_json(self, **kwargs: Any) -> str:
        """The configuration as a JSON string."""
        return json.dumps(self.to_dict(), **kwargs)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> UNetConfig:
        """Rebuild a configuration from :meth:`to_dict`; unknown keys are an error."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ConfigError(
                f"Unknown U-Net configuration keys {unknown}; known: {sorted(known)}."
            )
        values = dict(values)
        for key in ("norm", "activation"):
            if isinstance(values.get(key), list):
                values[key] = tuple(values[key])
        return cls(**values)

    @classmethod
    def from_json(cls, text: str) -> UNetConfig:
        """Rebuild a configuration from :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    # -- the model -------------------------------------------------------------------

    def build(self) -> keras.Model:
        """Create the Keras model.

        Returns:
            A ``keras.Model`` with one channels-last input ``(*input_size,
            in_channels)``; one output of ``out_channels``, or with deep supervision a
            list of outputs, highest resolution first. Outputs are float32.
        """
        return UNetBuilder(self).build()
