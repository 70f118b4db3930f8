"""Learning-rate schedules and optimiser defaults that train U-Nets well.

- :class:`PolyDecay`: nnU-Net's ``lr · (1 − step / total)^0.9``, with SGD, Nesterov
  momentum 0.99 and an initial rate of 1e-2.
- :class:`WarmupCosine`: a linear warm-up then a cosine decay, the usual companion of
  AdamW.

Both are ``keras.optimizers.schedules.LearningRateSchedule`` objects written with
``keras.ops``, registered for saving, and driven by the optimiser's step counter — so
a model saved with its optimiser resumes at the same point of the schedule.
:func:`build_optimizer` puts the pieces together from names.
"""

from __future__ import annotations

import math
from typing import Any

import keras
from keras import ops

from unetseg.errors import ConfigError
from unetseg.registries import OPTIMIZERS, SCHEDULES

__all__ = [
    "OPTIMIZERS",
    "SCHEDULES",
    "PolyDecay",
    "WarmupCosine",
    "adam",
    "adamw",
    "build_optimizer",
    "build_schedule",
    "sgd",
]


def _check_steps(total_steps: int, warmup_steps: int = 0) -> None:
    if int(total_steps) < 1:
        raise ConfigError(f"A schedule needs total_steps >= 1, got {total_steps}.")
    if not 0 <= int(warmup_steps) < int(total_steps):
        raise ConfigError(
            f"warmup_steps must be in [0, total_steps={total_steps}), got {warmup_steps}."
        )


@SCHEDULES.register("poly")
class PolyDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Polynomial decay to 0: ``initial · (1 − step / total_steps)^power``.

    Args:
        initial_learning_rate: The rate at step 0 (nnU-Net: 1e-2).
        total_steps: The step at which the rate reaches 0 (epochs × steps per epoch).
        power: The exponent (nnU-Net: 0.9).

    Example:
        >>> schedule = PolyDecay(1e-2, total_steps=100)
        >>> [round(float(schedule(s)), 5) for s in (0, 50, 100, 150)]
        [0.01, 0.00536, 0.0, 0.0]
    """

    def __init__(self, initial_learning_rate: float, total_steps: int, power: float = 0.9) -> None:
        _check_steps(total_steps)
        if initial_learning_rate <= 0 or power <= 0:
            raise ConfigError(
                f"PolyDecay needs initial_learning_rate > 0 and power > 0, got "
                f"{initial_learning_rate} and {power}."
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.total_steps = int(total_steps)
        self.power = float(power)

    def __call__(self, step: Any) -> Any:
        progress = ops.minimum(ops.cast(step, "float32") / self.total_steps, 1.0)
        return self.initial_learning_rate * ops.power(1.0 - progress, self.power)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "total_steps": self.total_steps,
            "power": self.power,
        }


@SCHEDULES.register("cosine")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up from 0 to ``initial`` over ``warmup_steps``, then cosine decay.

    Args:
        initial_learning_rate: The peak rate, reached at the end of the warm-up.
        total_steps: The step at which the rate reaches ``final_learning_rate``.
        warmup_steps: Steps of linear warm-up (0 for none).
        final_learning_rate: The rate at and after ``total_steps``.

    Example:
        >>> schedule = WarmupCosine(1e-3, total_steps=110, warmup_steps=10)
        >>> [round(float(schedule(s)), 6) for s in (0, 5, 10, 60, 110)]
        [0.0, 0.0005, 0.001, 0.0005, 0.0]
    """

    def __init__(
        self,
        initial_learning_rate: float,
        total_steps: int,
        warmup_steps: int = 0,
        final_learning_rate: float = 0.0,
    ) -> None:
        _check_steps(total_steps, warmup_steps)
        if initial_learning_rate <= 0 or not 0 <= final_learning_rate <= initial_learning_rate:
            raise ConfigError(
                "WarmupCosine needs initial_learning_rate > 0 and 0 <= final_learning_rate <= "
                f"initial_learning_rate, got {initial_learning_rate} and {final_learning_rate}."
            )
        self.initial_learning_rate = float(initial_learning_rate)
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.final_learning_rate = float(final_learning_rate)

    def __call__(self, step: Any) -> Any:
        step = ops.cast(step, "float32")
        peak, final = self.initial_learning_rate, self.final_learning_rate
        warmup = peak * step / max(self.warmup_steps, 1)
        decay_steps = self.total_steps - self.warmup_steps
        progress = ops.clip((step - self.warmup_steps) / decay_steps, 0.0, 1.0)
        cosine = final + 0.5 * (peak - final) * (1.0 + ops.cos(math.pi * progress))
        return ops.where(step < self.warmup_steps, warmup, cosine)

    def get_config(self) -> dict[str, Any]:
        return {
            "initial_learning_rate": self.initial_learning_rate,
            "total_steps": self.total_steps,
            "warmup_steps": self.warmup_steps,
            "final_learning_rate": self.final_learning_rate,
        }


def build_schedule(
    name: str | None,
    learning_rate: float,
    total_steps: int,
    warmup_steps: int = 0,
) -> Any:
    """A schedule by name (``"poly"``, ``"cosine"``, or ``None``/``"constant"`` for a float).

    Args:
        name: A name of :data:`SCHEDULES`, or ``None``/``"constant"`` for a constant rate.
        learning_rate: The constant rate, or the schedule's initial (``"cosine"``: peak) rate.
        total_steps: The step at which the schedule ends; unused for a constant rate.
        warmup_steps: Steps of linear warm-up; only ``"cosine"`` takes a non-zero value.
    """
    if name is None or str(name).lower() == "constant":
        if learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {learning_rate}.")
        return float(learning_rate)
    schedule_class = SCHEDULES.get(name)
    if schedule_class is WarmupCosine:
        return WarmupCosine(learning_rate, total_steps, warmup_steps=warmup_steps)
    if warmup_steps:
        raise ConfigError(f"Schedule {name!r} has no warm-up; use 'cosine' or warmup_epochs=0.")
    return schedule_class(learning_rate, total_steps)


@OPTIMIZERS.register("sgd")
def sgd(
    learning_rate: Any, *, weight_decay: float | None = None, clipnorm: float | None = 12.0
) -> keras.optimizers.Optimizer:
    """SGD with Nesterov momentum 0.99 and weight decay 3e-5 by default (nnU-Net)."""
    return keras.optimizers.SGD(
        learning_rate,
        momentum=0.99,
        nesterov=True,
        weight_decay=3e-5 if weight_decay is None else weight_decay,
        clipnorm=clipnorm,
    )


@OPTIMIZERS.register("adamw")
def adamw(
    learning_rate: Any, *, weight_decay: float | None = None, clipnorm: float | None = 12.0
) -> keras.optimizers.Optimizer:
    """AdamW with weight decay 1e-2 by default."""
    return keras.optimizers.AdamW(
        learning_rate,
        weight_decay=1e-2 if weight_decay is None else weight_decay,
        clipnorm=clipnorm,
    )


@OPTIMIZERS.register("adam")
def adam(
    learning_rate: Any, *, weight_decay: float | None = None, clipnorm: float | None = 12.0
) -> keras.optimizers.Optimizer:
    """Adam, without weight decay by default."""
    return keras.optimizers.Adam(learning_rate, weight_decay=weight_decay, clipnorm=clipnorm)


def build_optimizer(
    name: str,
    learning_rate: Any,
    *,
    weight_decay: float | None = None,
    clipnorm: float | None = 12.0,
) -> keras.optimizers.Optimizer:
    """An optimiser of :data:`OPTIMIZERS` with defaults that work for U-Nets.

    Args:
        name: ``"sgd"`` (Nesterov momentum 0.99, nnU-Net; weight decay 3e-5 by
            default), ``"adamw"`` (weight decay 1e-2 by default), ``"adam"``, or a
            plugin's name.
        learning_rate: A float or a schedule.
        weight_decay: Overrides the default weight decay.
        clipnorm: Clip each gradient's norm (nnU-Net clips at 12); ``None`` for no
            clipping.

    Raises:
        UnknownNameError: For an unknown name (with close matches).
        ConfigError: For a ``clipnorm`` that is not positive.

    Example:
        >>> type(build_optimizer("adamw", 1e-3)).__name__
        'AdamW'
    """
    if clipnorm is not None and clipnorm <= 0:
        raise ConfigError(f"clipnorm must be > 0 or None, got {clipnorm}.")
    return OPTIMIZERS.create(
        name, learning_rate=learning_rate, weight_decay=weight_decay, clipnorm=clipnorm
    )
