"""The :class:`~unetseg.training.Trainer`, its callbacks, learning-rate schedules, devices.

:class:`Trainer` wraps ``model.fit`` with what a segmentation run needs, configured by
one typed :class:`TrainerConfig`: optimiser and
schedule defaults (nnU-Net's SGD + poly, or AdamW + warm-up cosine), validation by
sliding-window Dice on whole volumes, atomic ``best``/``last`` checkpoints and resume in
a work directory, early stopping, a clear stop on a NaN loss, mixed precision and data
parallelism.
"""

from unetseg.training.callbacks import (
    EpochStart,
    SlidingWindowValidation,
    Throughput,
    WorkDirCheckpoint,
    read_history,
    validation_arrays,
)
from unetseg.training.config import PRECISIONS, TrainerConfig
from unetseg.training.distribution import MULTI_WORKER_VARIABLES, DistributionContext
from unetseg.training.schedules import (
    OPTIMIZERS,
    SCHEDULES,
    PolyDecay,
    WarmupCosine,
    build_optimizer,
    build_schedule,
)
from unetseg.training.trainer import Trainer, TrainingError
from unetseg.training.workdir import claim_work_dir, copy_optimizer_state, differing_settings

__all__ = [
    "MULTI_WORKER_VARIABLES",
    "OPTIMIZERS",
    "PRECISIONS",
    "SCHEDULES",
    "DistributionContext",
    "EpochStart",
    "PolyDecay",
    "SlidingWindowValidation",
    "Throughput",
    "Trainer",
    "TrainerConfig",
    "TrainingError",
    "WarmupCosine",
    "WorkDirCheckpoint",
    "build_optimizer",
    "build_schedule",
    "claim_work_dir",
    "copy_optimizer_state",
    "differing_settings",
    "read_history",
    "validation_arrays",
]
