"""Every registry of unetseg, declared in one place.

A registry is where a kind of component is found by name. They are all here, so
there is one place to look; the components themselves are registered where they are
defined, and each registry imports that module on its first lookup (``builtins``),
so ``LOSSES.get("dice")`` works wherever ``LOSSES`` was imported from. The
subpackages re-export their registries (``unetseg.losses.LOSSES`` is
:data:`LOSSES`).

================================  ==========================  ===========================
registry                          holds                       plugins' entry-point group
================================  ==========================  ===========================
:data:`TASKS`                     what outputs mean           ``unetseg.tasks``
:data:`NETWORKS`                  U-Net presets               ``unetseg.networks``
:data:`NORMS`                     normalisation layers        ``unetseg.norms``
:data:`ACTIVATION_LAYERS`         activation layers           ``unetseg.activations``
:data:`LOSSES`                    Keras losses                ``unetseg.losses``
:data:`METRICS`                   Keras (epoch) metrics       ``unetseg.metrics``
:data:`VOLUME_METRICS`            NumPy metrics of volumes    ``unetseg.volume_metrics``
:data:`SCHEDULES`                 learning-rate schedules     ``unetseg.schedules``
:data:`OPTIMIZERS`                optimisers with defaults    ``unetseg.optimizers``
:data:`INVERSES`                  inverses of the operations  (none: internal)
                                  that spatial transforms
                                  record
================================  ==========================  ===========================

Importing this module imports no component and no Keras.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from unetseg.registry import Registry

__all__ = [
    "ACTIVATION_LAYERS",
    "INVERSES",
    "LOSSES",
    "METRICS",
    "NETWORKS",
    "NORMS",
    "OPTIMIZERS",
    "SCHEDULES",
    "TASKS",
    "VOLUME_METRICS",
]

#: Task descriptions (:class:`~unetseg.task.Task`) by name: ``brats_regions``, ...
TASKS: Registry[Any] = Registry("task", entry_point_group="unetseg.tasks", builtins="unetseg.task")

#: Network presets by name, functions returning a :class:`~unetseg.networks.UNetConfig`.
NETWORKS: Registry[Callable[..., Any]] = Registry(
    "network", entry_point_group="unetseg.networks", builtins="unetseg.networks"
)

#: Normalisation layer factories by name (``"instance"``, ``"group"``, ...).
NORMS: Registry[Callable[..., Any]] = Registry(
    "norm", entry_point_group="unetseg.norms", keras_serializable=True, builtins="unetseg.networks"
)

#: Activation layer factories by name (``"leaky_relu"``, ...).
ACTIVATION_LAYERS: Registry[Callable[..., Any]] = Registry(
    "activation",
    entry_point_group="unetseg.activations",
    keras_serializable=True,
    builtins="unetseg.networks",
)

#: Losses by name (``"dice_ce"``, ...): ``keras.losses.Loss`` subclasses.
LOSSES: Registry[Any] = Registry(
    "loss", entry_point_group="unetseg.losses", keras_serializable=True, builtins="unetseg.losses"
)

#: Keras metrics that accumulate over an epoch (``"dice"``, ...), by name.
METRICS: Registry[Any] = Registry(
    "metric",
    entry_point_group="unetseg.metrics",
    keras_serializable=True,
    builtins="unetseg.metrics.streaming",
)

#: NumPy functions ``f(prediction, truth, spacing=None) -> float`` on binary masks of
#: whole volumes (``"dice"``, ``"hd95"``, ...), by name.
VOLUME_METRICS: Registry[Callable[..., Any]] = Registry(
    "volume metric", entry_point_group="unetseg.volume_metrics", builtins="unetseg.metrics"
)

#: Learning-rate schedules (``"poly"``, ``"cosine"``): ``LearningRateSchedule`` classes.
SCHEDULES: Registry[Any] = Registry(
    "schedule",
    entry_point_group="unetseg.schedules",
    keras_serializable=True,
    builtins="unetseg.training.schedules",
)

#: Optimisers with defaults that train U-Nets (``"sgd"``, ``"adamw"``, ``"adam"``):
#: functions ``f(learning_rate, *, weight_decay=None, clipnorm=None) -> Optimizer``.
OPTIMIZERS: Registry[Callable[..., Any]] = Registry(
    "optimizer", entry_point_group="unetseg.optimizers", builtins="unetseg.training.schedules"
)

#: Operation kind → the function ``f(array, operation) -> array`` that undoes a spatial
#: operation recorded in a record's metadata (see ``unetseg.transforms.metadata``).
INVERSES: Registry[Callable[..., Any]] = Registry(
    "inverse operation", builtins="unetseg.transforms.metadata"
)
