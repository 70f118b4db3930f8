"""Keras metrics that accumulate over a whole epoch: Dice, IoU, sensitivity, specificity.

Each metric keeps per-channel counts of true and false positives and negatives
across every batch it sees and computes its score from the totals at
``result()``, so the value Keras logs for an epoch is the *dataset-level* score,
not a mean of per-batch scores (which over-weights small batches and empty
patches). The formulas and empty-mask conventions are those of the NumPy
functions in ``unetseg.metrics.overlap``, and tests check the two agree.

Predictions are binarised by the output ``activation``, the word the losses, the
inferer and the task description (:class:`~unetseg.task.Task`) use too:

- ``"sigmoid"``: independent channels (regions, such as BraTS WT/TC/ET); a voxel is
  positive where the probability exceeds ``threshold``.
- ``"softmax"``: mutually exclusive classes, channel 0 the background; each voxel
  belongs to its most probable class. Targets may then be integer labels. The
  background is not scored unless ``include_background``.

Counts are float32 variables (Keras metric state on every backend); their ratios
stay exact to about seven digits over thousands of volumes.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

from unetseg.errors import ConfigError, check_choice
from unetseg.registries import METRICS
from unetseg.targets import ACTIVATIONS, prepare_target

__all__ = [
    "ConfusionMetric",
    "DiceMetric",
    "IoUMetric",
    "SensitivityMetric",
    "SpecificityMetric",
    "region_dice_metrics",
]


#: The former ``mode`` values and the activation each meant.
_MODES = {"threshold": "sigmoid", "argmax": "softmax"}


class ConfusionMetric(keras.metrics.Metric):
    """Base of the epoch-level metrics: per-channel confusion counts and a score.

    Args:
        num_channels: The number of output channels of the model (classes for
            softmax, regions for sigmoid).
        activation: ``"sigmoid"`` or ``"softmax"`` (see the module documentation).
        threshold: Probability above which a voxel is positive (sigmoid).
        from_logits: Whether predictions are logits (default) or probabilities.
        include_background: Score channel 0 (softmax).
        channel: Report only this channel (an index among *all* channels);
            ``None`` reports the mean over the scored channels.
        name: The metric name in logs.
        dtype: The dtype of the state.
        mode: The former name of ``activation`` (``"threshold"`` for sigmoid,
            ``"argmax"`` for softmax), still read from models saved with it.

    Subclasses implement :meth:`score`.
    """

    def __init__(
        self,
        num_channels: int,
        *,
        activation: str = "sigmoid",
        threshold: float = 0.5,
        from_logits: bool = True,
        include_background: bool = False,
        channel: int | None = None,
        name: str | None = None,
        dtype: Any = None,
        mode: str | None = None,
    ) -> None:
        super().__init__(name=name, dtype=dtype)
        if mode is not None:
            activation = _MODES[check_choice(mode, tuple(_MODES), what="mode")]
        if not isinstance(num_channels, int) or num_channels < 1:
            raise ConfigError(f"num_channels must be a positive integer, got {num_channels!r}.")
        self.num_channels = num_channels
        self.activation = check_choice(activation, ACTIVATIONS, what="activation")
        if self.activation == "softmax" and num_channels < 2:
            raise ConfigError(
                "A softmax output needs at least two channels (background and one class)."
            )
        if not 0.0 < threshold < 1.0:
            raise ConfigError(f"threshold must be in (0, 1), got {threshold}.")
        self.threshold = float(threshold)
        self.from_logits = bool(from_logits)
        self.include_background = bool(include_background)
        scored = self._scored_channels()
        if channel is not None and channel not in scored:
            raise ConfigError(
                f"channel {channel!r} is not scored; the scored channels are {scored} "
                f"(num_channels={num_channels}, activation={self.activation!r}, "
                f"include_background={self.include_background})."
            )
        self.channel = channel
        shape = (num_channels,)
        self.true_positives = self.add_variable(shape=shape, initializer="zeros", name="tp")
        self.false_positives = self.add_variable(shape=shape, initializer="zeros", name="fp")
        self.false_negatives = self.add_variable(shape=shape, initializer="zeros", name="fn")
        self.true_negatives = self.add_variable(shape=shape, initializer="zeros", name="tn")

    def _scored_channels(self) -> list[int]:
        first = 1 if self.activation == "softmax" and not self.include_background else 0
        return list(range(first, self.num_channels))

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """Add the counts of one batch. ``sample_weight`` of shape ``(N,)`` weighs samples."""
        y_pred = ops.convert_to_tensor(y_pred)
        y_true = ops.convert_to_tensor(y_true)
        if y_pred.shape[-1] is not None and y_pred.shape[-1] != self.num_channels:
            raise ConfigError(
                f"{type(self).__name__} was built for {self.num_channels} channels but the "
                f"prediction has shape {tuple(y_pred.shape)}."
            )
        target = prepare_target(y_true, y_pred, self.activation, owner=type(self).__name__)
        target = ops.cast(target > 0.5, "float32")
        y_pred = ops.cast(y_pred, "float32")
        if self.activation == "softmax":
            predicted = ops.one_hot(ops.argmax(y_pred, axis=-1), self.num_channels)
        else:
            probabilities = ops.sigmoid(y_pred) if self.from_logits else y_pred
            predicted = ops.cast(probabilities > self.threshold, "float32")
        if sample_weight is not None:
            weight = ops.reshape(
                ops.cast(sample_weight, "float32"), (-1,) + (1,) * (len(y_pred.shape) - 1)
            )
            target_w, predicted_w = target * weight, predicted * weight
            ones = ops.ones_like(target) * weight
        else:
            target_w, predicted_w, ones = target, predicted, ops.ones_like(target)
        axes = list(range(len(y_pred.shape) - 1))
        true_positive = ops.sum(predicted_w * target, axis=axes)
        predicted_total = ops.sum(predicted_w, axis=axes)
        actual_total = ops.sum(target_w, axis=axes)
        total = ops.sum(ones, axis=axes)
        self.true_positives.assign_add(true_positive)
        self.false_positives.assign_add(predicted_total - true_positive)
        self.false_negatives.assign_add(actual_total - true_positive)
        self.true_negatives.assign_add(total - predicted_total - actual_total + true_positive)

    def score(self, tp: Any, fp: Any, fn: Any, tn: Any) -> Any:
        """Per-channel score from per-channel counts (NaN where undefined)."""
        raise NotImplementedError

    def result_per_channel(self) -> Any:
        """The score of every channel (scored or not), shape ``(num_channels,)``."""
        return self.score(
            self.true_positives, self.false_positives, self.false_negatives, self.true_negatives
        )

    def result(self) -> Any:
        per_channel = self.result_per_channel()
        if self.channel is not None:
            return per_channel[self.channel]
        scored = ops.take(per_channel, self._scored_channels())
        defined = ops.logical_not(ops.isnan(scored))
        count = ops.sum(ops.cast(defined, "float32"))
        total = ops.sum(ops.where(defined, scored, ops.zeros_like(scored)))
        return ops.where(count > 0, total / ops.maximum(count, 1.0), float("nan"))

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "num_channels": self.num_channels,
            "activation": self.activation,
            "threshold": self.threshold,
            "from_logits": self.from_logits,
            "include_background": self.include_background,
            "channel": self.channel,
        }


def _ratio(numerator: Any, denominator: Any, when_empty: float) -> Any:
    safe = ops.where(denominator > 0, denominator, ops.ones_like(denominator))
    return ops.where(denominator > 0, numerator / safe, when_empty)


@METRICS.register("dice")
class DiceMetric(ConfusionMetric):
    """Dice over the epoch, ``2·TP / (2·TP + FP + FN)`` per channel; 1 when both are empty.

    Example:
        >>> import numpy as np
        >>> metric = DiceMetric(num_channels=1, from_logits=False)
        >>> truth = np.zeros((2, 4, 4, 1), "float32"); truth[:, :2] = 1
        >>> metric.update_state(truth, truth)
        >>> float(metric.result())
        1.0
    """

    def score(self, tp: Any, fp: Any, fn: Any, tn: Any) -> Any:
        return _ratio(2.0 * tp, 2.0 * tp + fp + fn, 1.0)


@METRICS.register("iou")
class IoUMetric(ConfusionMetric):
    """Intersection over union over the epoch, ``TP / (TP + FP + FN)``; 1 when both are empty."""

    def score(self, tp: Any, fp: Any, fn: Any, tn: Any) -> Any:
        return _ratio(tp, tp + fp + fn, 1.0)


@METRICS.register("sensitivity")
class SensitivityMetric(ConfusionMetric):
    """Sensitivity (recall) over the epoch, ``TP / (TP + FN)``; NaN with no positive voxel."""

    def score(self, tp: Any, fp: Any, fn: Any, tn: Any) -> Any:
        return _ratio(tp, tp + fn, float("nan"))


@METRICS.register("specificity")
class SpecificityMetric(ConfusionMetric):
    """Specificity over the epoch, ``TN / (TN + FP)``; NaN with no negative voxel."""

    def score(self, tp: Any, fp: Any, fn: Any, tn: Any) -> Any:
        return _ratio(tn, tn + fp, float("nan"))


def region_dice_metrics(
    region_names: Sequence[str] = ("WT", "TC", "ET"), **kwargs: Any
) -> list[DiceMetric]:
    """One :class:`DiceMetric` per region channel, named ``dice_<region>``, plus the mean.

    Args:
        region_names: The names of the output channels, in order.
        **kwargs: Passed to every :class:`DiceMetric` (``activation``, ``from_logits``, …).

    Example:
        >>> [m.name for m in region_dice_metrics()]
        ['dice_mean', 'dice_WT', 'dice_TC', 'dice_ET']
    """
    count = len(region_names)
    metrics = [DiceMetric(count, name="dice_mean", **kwargs)]
    metrics += [
        DiceMetric(count, channel=i, name=f"dice_{region}", **kwargs)
        for i, region in enumerate(region_names)
    ]
    return metrics
