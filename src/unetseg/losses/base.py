"""What every segmentation loss shares: the registry, target and activation handling.

Conventions (channels last):

- ``y_pred`` has shape ``(N, *spatial, C)``: logits by default (``from_logits=True``),
  probabilities otherwise.
- ``activation`` says what the channels mean. ``"sigmoid"``: each channel is an
  independent (possibly overlapping) region, such as BraTS WT, TC and ET, and the
  target has the same shape. ``"softmax"``: the channels are mutually exclusive
  classes with channel 0 the background, and the target is either one-hot of the
  same shape or integer class labels of shape ``(N, *spatial)`` or ``(N, *spatial, 1)``.
- ``include_background`` only concerns softmax outputs: sigmoid outputs have no
  background channel, so every one of their channels is always scored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import keras
from keras import ops

from unetseg.errors import ConfigError, check_choice
from unetseg.registries import LOSSES
from unetseg.targets import ACTIVATIONS, prepare_target, spatial_axes

__all__ = [
    "ACTIVATIONS",
    "LOSSES",
    "OverlapLoss",
    "SegmentationLoss",
    "build_loss",
    "check_weights",
    "per_sample",
    "weighted_sum",
]


class SegmentationLoss(keras.losses.Loss):
    """Base class of unetseg's losses: validates options and prepares tensors.

    Args:
        activation: ``"sigmoid"`` (independent channels) or ``"softmax"`` (exclusive
            classes, channel 0 background).
        from_logits: Whether ``y_pred`` holds logits (the default, for numerical
            stability) rather than probabilities.
        include_background: For softmax outputs, whether channel 0 is scored.
        class_weights: Optional weight per scored channel.
        name: The loss name in logs.
        reduction: How Keras reduces the per-sample losses.
        dtype: The dtype Keras converts inputs to.
    """

    def __init__(
        self,
        *,
        activation: str = "sigmoid",
        from_logits: bool = True,
        include_background: bool = False,
        class_weights: Sequence[float] | None = None,
        name: str | None = None,
        reduction: str | None = "sum_over_batch_size",
        dtype: Any = None,
    ) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.activation = check_choice(activation, ACTIVATIONS, what="activation")
        self.from_logits = bool(from_logits)
        self.include_background = bool(include_background)
        self.class_weights = (
            check_weights(class_weights, "class_weights") if class_weights is not None else None
        )

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "activation": self.activation,
            "from_logits": self.from_logits,
            "include_background": self.include_background,
            "class_weights": self.class_weights,
        }

    # -- helpers for subclasses --------------------------------------------------------

    def _target(self, y_true: Any, y_pred: Any) -> Any:
        """Return the target as float32 with the shape of ``y_pred`` (one-hot for labels)."""
        return prepare_target(y_true, y_pred, self.activation, owner=type(self).__name__)

    def _probabilities(self, y_pred: Any) -> Any:
        y_pred = ops.cast(y_pred, "float32")
        if not self.from_logits:
            return y_pred
        if self.activation == "softmax":
            return ops.softmax(y_pred, axis=-1)
        return ops.sigmoid(y_pred)

    def _scored(self, tensor: Any) -> Any:
        """Drop the background channel when it is not scored."""
        if self.activation == "softmax" and not self.include_background:
            return tensor[..., 1:]
        return tensor

    def _weighted_channel_mean(self, per_channel: Any) -> Any:
        """Average ``(..., C)`` values over the scored channels, with class weights."""
        if self.class_weights is None:
            return ops.mean(per_channel, axis=-1)
        channels = per_channel.shape[-1]
        if channels is not None and channels != len(self.class_weights):
            raise ConfigError(
                f"{type(self).__name__} has {len(self.class_weights)} class_weights but scores "
                f"{channels} channels (activation={self.activation!r}, "
                f"include_background={self.include_background})."
            )
        weights = ops.convert_to_tensor(self.class_weights, dtype="float32")
        return ops.sum(per_channel * weights, axis=-1) / ops.sum(weights)


class OverlapLoss(SegmentationLoss):
    """Shared options of the overlap losses: smoothing and batch-level reduction."""

    def __init__(
        self,
        *,
        smooth_nr: float = 1e-5,
        smooth_dr: float = 1e-5,
        batch: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if smooth_nr < 0 or smooth_dr < 0:
            raise ConfigError(
                f"smooth_nr and smooth_dr must be >= 0, got {smooth_nr} and {smooth_dr}."
            )
        self.smooth_nr = float(smooth_nr)
        self.smooth_dr = float(smooth_dr)
        self.batch = bool(batch)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "smooth_nr": self.smooth_nr,
            "smooth_dr": self.smooth_dr,
            "batch": self.batch,
        }

    def _sums(self, y_true: Any, y_pred: Any) -> tuple[Any, Any, Any, list[int]]:
        """Return ``Σp·g``, the scored probabilities and target, and the reduced axes."""
        target = self._scored(self._target(y_true, y_pred))
        probabilities = self._scored(self._probabilities(y_pred))
        axes = spatial_axes(probabilities)
        if self.batch:
            axes = [0, *axes]
        intersection = ops.sum(probabilities * target, axis=axes)
        return intersection, probabilities, target, axes

    def _per_sample(self, loss: Any, y_pred: Any) -> Any:
        return per_sample(loss, y_pred) if self.batch else loss


def per_sample(value: Any, y_pred: Any) -> Any:
    """Give a batch-level scalar the shape ``(N,)`` that Keras reduces per sample."""
    return ops.zeros((ops.shape(y_pred)[0],), dtype="float32") + value


def check_weights(weights: Sequence[float], what: str) -> list[float]:
    """Return ``weights`` as floats, refusing an empty list, a negative or an all-zero one."""
    values = [float(w) for w in weights]
    if not values or min(values) < 0 or sum(values) <= 0:
        raise ConfigError(f"{what} must be >= 0 with a positive sum, got {values}.")
    return values


def weighted_sum(weights: Sequence[float], term: Callable[[int], Any]) -> Any:
    """``Σ_i weights[i] · term(i)``, skipping (and not computing) terms of weight 0."""
    total = None
    for index, weight in enumerate(weights):
        if weight == 0:
            continue
        value = weight * term(index)
        total = value if total is None else total + value
    return total


def build_loss(spec: Any) -> keras.losses.Loss:
    """Return a loss from an instance, a registry name, a ``(name, kwargs)`` pair or a
    serialised Keras config (what ``get_config`` of a composite loss stores).

    Args:
        spec: A ``keras.losses.Loss`` (returned as is), a name of :data:`LOSSES`, a
            ``(name, kwargs)`` pair, or a dict with ``"class_name"`` (deserialised by Keras).

    Raises:
        UnknownNameError: If a name is not registered.
        ConfigError: If ``spec`` is none of the above.
    """
    if isinstance(spec, keras.losses.Loss):
        return spec
    if isinstance(spec, dict) and "class_name" in spec:
        return keras.saving.deserialize_keras_object(spec)
    loss = LOSSES.create(spec)
    if not isinstance(loss, keras.losses.Loss):
        raise ConfigError(f"The loss {spec!r} did not create a keras.losses.Loss, got {loss!r}.")
    return loss
