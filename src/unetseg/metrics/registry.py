"""The metric registries: Keras metrics for training, NumPy functions for evaluation."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unetseg.registry import Registry

__all__ = ["METRICS", "VOLUME_METRICS"]

#: Keras metrics that accumulate over an epoch (``DiceMetric``, …), by name.
#: Plugins add to it through the ``unetseg.metrics`` entry points.
METRICS: Registry[type] = Registry(
    "metric", entry_point_group="unetseg.metrics", keras_serializable=True
)

#: NumPy functions ``f(prediction, truth, spacing=None) -> float`` on binary masks of
#: whole volumes (``dice``, ``hd95``, …), by name. Plugins add to it through the
#: ``unetseg.volume_metrics`` entry points.
VOLUME_METRICS: Registry[Callable[..., Any]] = Registry(
    "volume metric", entry_point_group="unetseg.volume_metrics"
)
