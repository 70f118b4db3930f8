"""Overlap metrics of binary masks in NumPy: Dice, IoU, sensitivity and specificity.

Conventions, the same as the Keras metrics in ``unetseg.metrics.streaming``:

- Dice and IoU of two empty masks are 1 (nothing to find, nothing found — the
  BraTS rule); of one empty and one non-empty mask, 0.
- Sensitivity is undefined (NaN) when the truth has no positive voxel, and
  specificity when it has no negative voxel; summaries skip NaN values.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from unetseg.errors import DataError
from unetseg.registries import VOLUME_METRICS

__all__ = [
    "ConfusionCounts",
    "confusion_counts",
    "dice",
    "dice_from_counts",
    "iou",
    "sensitivity",
    "specificity",
]


class ConfusionCounts(NamedTuple):
    """Voxel counts of a binary prediction against a binary truth."""

    true_positive: int
    false_positive: int
    false_negative: int
    true_negative: int


def as_mask_pair(prediction: Any, truth: Any) -> tuple[np.ndarray, np.ndarray]:
    """Return both masks as boolean arrays, checking that their shapes match."""
    prediction = np.asarray(prediction)
    truth = np.asarray(truth)
    if prediction.shape != truth.shape:
        raise DataError(
            f"Prediction shape {prediction.shape} does not match truth shape {truth.shape}."
        )
    return prediction.astype(bool, copy=False), truth.astype(bool, copy=False)


def confusion_counts(prediction: Any, truth: Any) -> ConfusionCounts:
    """Count true and false positives and negatives of two binary masks.

    Args:
        prediction: Binary mask (any shape; non-zero is foreground).
        truth: Binary mask of the same shape.

    Example:
        >>> confusion_counts([1, 1, 0, 0], [1, 0, 1, 0])
        ConfusionCounts(true_positive=1, false_positive=1, false_negative=1, true_negative=1)
    """
    prediction, truth = as_mask_pair(prediction, truth)
    true_positive = int(np.count_nonzero(prediction & truth))
    predicted = int(np.count_nonzero(prediction))
    actual = int(np.count_nonzero(truth))
    false_positive = predicted - true_positive
    false_negative = actual - true_positive
    true_negative = prediction.size - true_positive - false_positive - false_negative
    return ConfusionCounts(true_positive, false_positive, false_negative, true_negative)


def dice_from_counts(true_positive: float, false_positive: float, false_negative: float) -> float:
    """``2·TP / (2·TP + FP + FN)``, and 1 when both masks are empty.

    Args:
        true_positive: The number of true positive voxels.
        false_positive: The number of false positive voxels.
        false_negative: The number of false negative voxels.
    """
    denominator = 2 * true_positive + false_positive + false_negative
    return 1.0 if denominator == 0 else 2.0 * true_positive / denominator


@VOLUME_METRICS.register("dice")
def dice(prediction: Any, truth: Any, spacing: Any = None) -> float:
    """Dice similarity coefficient of two binary masks, ``2|P∩T| / (|P| + |T|)``.

    Args:
        prediction: Binary mask (any shape; non-zero is foreground).
        truth: Binary mask of the same shape.
        spacing: Ignored (accepted so every volume metric has one signature).

    Returns:
        A value in [0, 1]; 1 when both masks are empty.

    Raises:
        DataError: If the shapes differ.

    Example:
        >>> dice([1, 1, 0, 0], [1, 0, 0, 0])
        0.6666666666666666
    """
    counts = confusion_counts(prediction, truth)
    return dice_from_counts(counts.true_positive, counts.false_positive, counts.false_negative)


@VOLUME_METRICS.register("iou")
def iou(prediction: Any, truth: Any, spacing: Any = None) -> float:
    """Intersection over union (Jaccard index), ``|P∩T| / |P∪T|``; 1 when both are empty.

    Args:
        prediction: Binary mask (any shape; non-zero is foreground).
        truth: Binary mask of the same shape.
        spacing: Ignored (accepted so every volume metric has one signature).
    """
    counts = confusion_counts(prediction, truth)
    union = counts.true_positive + counts.false_positive + counts.false_negative
    return 1.0 if union == 0 else counts.true_positive / union


@VOLUME_METRICS.register("sensitivity")
def sensitivity(prediction: Any, truth: Any, spacing: Any = None) -> float:
    """Sensitivity (recall), ``TP / (TP + FN)``; NaN when the truth is empty.

    Args:
        prediction: Binary mask (any shape; non-zero is foreground).
        truth: Binary mask of the same shape.
        spacing: Ignored (accepted so every volume metric has one signature).
    """
    counts = confusion_counts(prediction, truth)
    positives = counts.true_positive + counts.false_negative
    return float("nan") if positives == 0 else counts.true_positive / positives


@VOLUME_METRICS.register("specificity")
def specificity(prediction: Any, truth: Any, spacing: Any = None) -> float:
    """Specificity, ``TN / (TN + FP)``; NaN when the truth has no background voxel.

    Args:
        prediction: Binary mask (any shape; non-zero is foreground).
        truth: Binary mask of the same shape.
        spacing: Ignored (accepted so every volume metric has one signature).
    """
    counts = confusion_counts(prediction, truth)
    negatives = counts.true_negative + counts.false_positive
    return float("nan") if negatives == 0 else counts.true_negative / negatives
