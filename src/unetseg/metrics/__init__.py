"""Segmentation metrics: Keras metrics for training and NumPy evaluation of whole volumes.

- ``unetseg.metrics.streaming``: ``DiceMetric``, ``IoUMetric``,
  ``SensitivityMetric``, ``SpecificityMetric`` — epoch-level Keras metrics,
  registered in :data:`METRICS`.
- ``unetseg.metrics.overlap`` and ``unetseg.metrics.distance``: ``dice``,
  ``iou``, ``sensitivity``, ``specificity`` and ``hd95`` of binary masks, registered
  in :data:`VOLUME_METRICS`.
- ``unetseg.metrics.brats``: the BraTS 2020 evaluation per region (WT, TC, ET).
- ``unetseg.metrics.legacy``: the background-inclusive pooled Dice, for comparison.

Background is excluded by default everywhere.
"""

from typing import TYPE_CHECKING

from unetseg.lazy import lazy_attributes
from unetseg.metrics.brats import (
    BRATS_EMPTY_HD95,
    METRIC_NAMES,
    BratsEvaluation,
    as_regions,
    evaluate_brats,
    evaluate_brats_case,
    region_masks,
    score_masks,
)
from unetseg.metrics.distance import hausdorff_distance, hd95, image_diagonal, surface_voxels
from unetseg.metrics.legacy import pooled_soft_dice
from unetseg.metrics.overlap import (
    ConfusionCounts,
    confusion_counts,
    dice,
    dice_from_counts,
    iou,
    sensitivity,
    specificity,
)
from unetseg.metrics.task_evaluation import evaluate_task, evaluate_task_case
from unetseg.registries import METRICS, VOLUME_METRICS

# The Keras metrics import Keras on first use (or on the first lookup in METRICS):
# scoring volumes with NumPy does not start a backend.
_STREAMING = [
    "ConfusionMetric",
    "DiceMetric",
    "IoUMetric",
    "SensitivityMetric",
    "SpecificityMetric",
    "region_dice_metrics",
]
__getattr__ = lazy_attributes(__name__, dict.fromkeys(_STREAMING, "unetseg.metrics.streaming"))

if TYPE_CHECKING:
    from unetseg.metrics.streaming import (
        ConfusionMetric,
        DiceMetric,
        IoUMetric,
        SensitivityMetric,
        SpecificityMetric,
        region_dice_metrics,
    )

__all__ = [
    "BRATS_EMPTY_HD95",
    "METRICS",
    "METRIC_NAMES",
    "VOLUME_METRICS",
    "BratsEvaluation",
    "ConfusionCounts",
    "ConfusionMetric",
    "DiceMetric",
    "IoUMetric",
    "SensitivityMetric",
    "SpecificityMetric",
    "as_regions",
    "confusion_counts",
    "dice",
    "dice_from_counts",
    "evaluate_brats",
    "evaluate_brats_case",
    "evaluate_task",
    "evaluate_task_case",
    "hausdorff_distance",
    "hd95",
    "image_diagonal",
    "iou",
    "pooled_soft_dice",
    "region_dice_metrics",
    "region_masks",
    "score_masks",
    "sensitivity",
    "specificity",
    "surface_voxels",
]
