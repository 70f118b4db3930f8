""":class:`TrainerConfig`: every setting of a :class:`~unetseg.training.Trainer` run, typed.

The configuration is checked once, on construction: types, ranges, names in their
registries, and the rules between fields. It round-trips through JSON
(``to_dict``/``from_dict``), which is how a run's ``config.json`` stores it and how
:meth:`~unetseg.training.Trainer.resume` reads it back.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from unetseg.config import ConfigSection
from unetseg.inference.sliding_window import BLENDINGS
from unetseg.registries import LOSSES, METRICS, OPTIMIZERS, SCHEDULES
from unetseg.task import Task, resolve_task

__all__ = ["PRECISIONS", "TrainerConfig"]

#: The Keras dtype policies a run may train under.
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


@dataclasses.dataclass(frozen=True)
class TrainerConfig(ConfigSection):
    """How to train: the task, loss, optimiser, schedule, precision, validation, stopping.

    Args:
        task: What the outputs mean: a :class:`~unetseg.task.Task`, a name in
            :data:`~unetseg.registries.TASKS` (``"brats_regions"``) or a task
            description mapping. The loss, the metrics, validation and prediction
            take their activation and channel names from it.
        loss: A name in :data:`~unetseg.registries.LOSSES`.
        loss_options: Keyword arguments of the loss (``{"batch": True}``); its
            ``activation`` comes from the task and ``from_logits`` from the model.
        optimizer: A name in :data:`~unetseg.registries.OPTIMIZERS`: ``"sgd"``
            (Nesterov momentum 0.99, nnU-Net), ``"adamw"`` or ``"adam"``.
        metrics: Names in :data:`~unetseg.registries.METRICS`, computed on the
            training patches (of the first output).
        learning_rate: The initial (peak) learning rate.
        schedule: ``"poly"`` (nnU-Net, power 0.9), ``"cosine"`` (with linear
            warm-up), ``"constant"``, or another name in
            :data:`~unetseg.registries.SCHEDULES`.
        warmup_epochs: Epochs of linear warm-up (``"cosine"`` only).
        weight_decay: Overrides the optimiser's default weight decay.
        clipnorm: Gradient norm clipping (nnU-Net: 12); ``None`` for none.
        precision: ``"float32"``, ``"mixed_float16"`` or ``"mixed_bfloat16"``; the
            output layer stays float32.
        distribute: ``None`` (one device), ``"data_parallel"`` (this machine's
            devices) or ``"multi_worker"`` (several processes or machines, JAX; see
            :class:`~unetseg.training.DistributionContext`).
        jit_compile: Passed to ``model.compile``: true, false or ``"auto"``.
        seed: The seed of the weights and of the per-epoch global seeds.
        val_roi_size: The window of the validation's sliding-window inference;
            ``None``: the training patch size.
        val_every: Validate on whole volumes every this many epochs.
        val_overlap: Window overlap of the validation, in [0, 1).
        val_blending: Where the validation's windows are blended: ``"auto"``,
            ``"numpy"`` or ``"device"`` (``SlidingWindowInferer``'s ``blending``).
        monitor: The log entry that picks ``best.keras`` and drives early stopping.
        monitor_mode: ``"max"`` or ``"min"``.
        patience: Stop after this many validations without improvement; ``None``
            for never.

    Raises:
        ConfigError: For a wrong type, a value out of range, an unknown name (with
            close matches) or a contradiction (a ``loss_options`` activation that is
            not the task's, warm-up without ``"cosine"``); the message names the field.

    Example:
        >>> config = TrainerConfig(task="brats_regions", optimizer="adamw", schedule="cosine")
        >>> config.task.activation, config.replace(warmup_epochs=2).warmup_epochs
        ('sigmoid', 2)
    """

    task: Task
    loss: str = "dice_ce"
    loss_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    optimizer: str = "sgd"
    metrics: tuple[str, ...] = ("dice",)
    learning_rate: float = 1e-2
    schedule: str = "poly"
    warmup_epochs: int = 0
    weight_decay: float | None = None
    clipnorm: float | None = 12.0
    precision: str = "float32"
    distribute: str | None = None
    jit_compile: bool | str = "auto"
    seed: int = 0
    val_roi_size: tuple[int, ...] | None = None
    val_every: int = 1
    val_overlap: float = 0.5
    val_blending: str = "auto"
    monitor: str = "val_dice"
    monitor_mode: str = "max"
    patience: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", resolve_task(self.task))
        object.__setattr__(self, "loss_options", dict(self.loss_options))
        object.__setattr__(self, "metrics", tuple(self.metrics))
        if self.val_roi_size is not None:
            object.__setattr__(self, "val_roi_size", tuple(self.val_roi_size))
        LOSSES.get(self.loss)
        OPTIMIZERS.get(self.optimizer)
        for name in self.metrics:
            METRICS.get(name)
        if self.schedule != "constant":
            SCHEDULES.get(self.schedule)
        option = self.loss_options.get("activation", self.task.activation)
        self.check(
            option == self.task.activation,
            "loss_options",
            f"must not set an activation other than the task's ({self.task.activation!r} for "
            f"{self.task.name!r})",
        )
        self.check(self.learning_rate > 0, "learning_rate", "must be > 0")
        self.check(self.warmup_epochs >= 0, "warmup_epochs", "must be >= 0")
        self.check(
            self.warmup_epochs == 0 or self.schedule == "cosine",
            "warmup_epochs",
            f"needs schedule 'cosine' (schedule {self.schedule!r} has no warm-up)",
        )
        self.check(
            self.weight_decay is None or self.weight_decay >= 0, "weight_decay", "must be >= 0"
        )
        self.check(self.clipnorm is None or self.clipnorm > 0, "clipnorm", "must be > 0 or none")
        self.check(self.precision in PRECISIONS, "precision", f"must be one of {PRECISIONS}")
        self.check(
            self.distribute in (None, "data_parallel", "multi_worker"),
            "distribute",
            "must be none, 'data_parallel' or 'multi_worker'",
        )
        self.check(
            self.jit_compile in (True, False, "auto"), "jit_compile", "must be a bool or 'auto'"
        )
        self.check(
            self.val_roi_size is None
            or (len(self.val_roi_size) in (2, 3) and min(self.val_roi_size) >= 1),
            "val_roi_size",
            "must be 2 or 3 positive sizes",
        )
        self.check(self.val_every >= 1, "val_every", "must be >= 1")
        self.check(0.0 <= self.val_overlap < 1.0, "val_overlap", "must be in [0, 1)")
        self.check(self.val_blending in BLENDINGS, "val_blending", f"must be one of {BLENDINGS}")
        self.check(self.monitor_mode in ("max", "min"), "monitor_mode", "must be 'max' or 'min'")
        self.check(self.patience is None or self.patience >= 1, "patience", "must be >= 1 or none")
