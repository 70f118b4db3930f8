"""The Trainer's callbacks: throughput, full-volume validation, checkpoints and history.

:class:`EpochStart` seeds every epoch. They run in this order at the end of every
epoch, each adding to the epoch's logs:

1. :class:`Throughput` — patches per second of the training steps (validation
   excluded) and the learning rate;
2. :class:`SlidingWindowValidation` — Dice per region over whole validation volumes,
   by sliding-window inference, every ``every`` epochs;
3. :class:`WorkDirCheckpoint` — writes ``history.csv``, ``best.keras`` (when the
   monitored value improved) and ``last.keras``, each atomically and in that order;
   stops on a NaN loss or when early stopping runs out of patience.
"""

from __future__ import annotations

import csv
import io
import math
import os
import random
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from unetseg.errors import ConfigError, DataError, check_choice
from unetseg.fileio import atomic_write, default_permissions
from unetseg.inference import background_outside_input
from unetseg.metrics.overlap import dice
from unetseg.task import Task

__all__ = [
    "EpochStart",
    "SlidingWindowValidation",
    "Throughput",
    "WorkDirCheckpoint",
    "read_history",
    "validation_arrays",
]


class EpochStart(keras.callbacks.Callback):
    """At every epoch start: seed Python, NumPy and the backend from ``(seed, epoch)``,
    and tell the training data which epoch it serves.

    Keras calls a ``PyDataset``'s ``on_epoch_end`` at its own times (TensorFlow also
    once before the first epoch, after peeking at batches for their shapes); setting
    the epoch here makes the batches of epoch ``e`` the same on every backend and in a
    resumed run.

    On the TensorFlow backend, TensorFlow's own global seed is set at the first epoch
    of each ``fit`` only: ``tf.random.set_seed`` clears TensorFlow's kernel caches, and
    after that every training step of the epoch was slower (the ``quick`` recipe's
    step on the 2-core CI machine: 0.31 s against 0.17 s). Keras' random layers draw
    from their own seed generators, saved with the model, and the patches from NumPy,
    so a resumed run still repeats the epochs it continues; only TensorFlow's stateful
    random ops (``tf.random.uniform`` without a seed, in a custom layer) are seeded
    once per ``fit`` rather than once per epoch.

    Args:
        seed: The run's seed; epoch ``e`` is seeded from ``(seed, e)``.
        train_data: The training data; its ``epoch`` attribute, if it has one, is set.
    """

    def __init__(self, seed: int, train_data: Any) -> None:
        super().__init__()
        self.seed, self.train_data = seed, train_data
        self._backend_seeded = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._backend_seeded = False

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        seed = int(np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0]) % 2**31
        if self._backend_seeded and keras.backend.backend() == "tensorflow":
            random.seed(seed)
            np.random.seed(seed)  # noqa: NPY002 (the global state, as Keras seeds it)
        else:
            keras.utils.set_random_seed(seed)
            self._backend_seeded = True
        if hasattr(self.train_data, "epoch"):
            self.train_data.epoch = epoch


class Throughput(keras.callbacks.Callback):
    """Log ``patches_per_s``, ``epoch_s`` and ``learning_rate`` at every epoch end.

    Args:
        batch_size: Patches per training batch.
    """

    def __init__(self, batch_size: int | None) -> None:
        super().__init__()
        self.batch_size = batch_size
        self._start = 0.0
        self._batches = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()
        self._batches = 0

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._batches += 1

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        seconds = time.perf_counter() - self._start
        logs["epoch_s"] = seconds
        if self.batch_size:
            logs["patches_per_s"] = self._batches * self.batch_size / max(seconds, 1e-9)
        optimizer = getattr(self.model, "optimizer", None)
        if optimizer is not None:
            rate = keras.ops.convert_to_numpy(optimizer.learning_rate)
            logs["learning_rate"] = float(rate)


def validation_arrays(case: Any, task: Task) -> tuple[np.ndarray, np.ndarray]:
    """``(image, target)`` of a validation case, the target with one channel per output.

    A case is a ``(image, target)`` pair, a record with ``"image"`` and ``"label"``,
    or a cached case (:class:`~unetseg.data.CachedCase`). A target with one channel
    holding a label map (BraTS labels 0/1/2/4, say) is encoded by the ``task`` when
    the task has more than one output channel.

    Args:
        case: A validation case, in one of the forms above.
        task: The task, which gives the number of output channels and encodes label maps.

    Raises:
        DataError: If the target does not fit the image or the task.
    """
    num_channels = task.out_channels
    if hasattr(case, "array"):
        image, target = case.array("image"), case.array("label")
    elif isinstance(case, dict):
        image, target = case["image"], case["label"]
    else:
        image, target = case
    image, target = np.asarray(image, dtype=np.float32), np.asarray(target)
    if target.shape[-1] == 1 != num_channels:
        target = task.encode(target, where="A validation target")
    if target.shape[-1] != num_channels or target.shape[:-1] != image.shape[:-1]:
        raise DataError(
            f"A validation case has image shape {image.shape} and target shape {target.shape}; "
            f"the target needs the image's spatial shape and {num_channels} channels (one "
            f"per output of the task {task.name!r}: {', '.join(task.channel_names)})."
        )
    return image, target


class SlidingWindowValidation(keras.callbacks.Callback):
    """Dice per scored output channel over whole validation volumes, by sliding window.

    Args:
        cases: Validation cases (see :func:`validation_arrays`).
        inferer: A :class:`~unetseg.inference.SlidingWindowInferer` that returns
            probabilities.
        task: What the outputs mean (:class:`~unetseg.task.Task`): regions are
            thresholded at 0.5, classes take the most probable; the background of a
            class task is not scored. The logs get ``val_dice_<name>`` for each
            scored channel (lower case: ``val_dice_wt``) and their mean ``val_dice``.
        every: Validate every this many epochs (and always at the last epoch).
        call_directly: Call the model as a function instead of ``predict_on_batch``.
            Under ``tf.distribute.MirroredStrategy`` Keras's ``predict_on_batch`` runs
            the whole batch on every replica and returns each replica's copy (Keras
            3.15), so the Trainer sets this there. Device blending calls the model
            directly anyway.

    Per case, Dice of each channel (1 when prediction and truth are both empty, as
    BraTS scores it); the logged value is the mean over cases.
    """

    def __init__(
        self,
        cases: Sequence[Any],
        inferer: Any,
        task: Task,
        every: int = 1,
        call_directly: bool = False,
    ) -> None:
        super().__init__()
        if not cases:
            raise ConfigError("SlidingWindowValidation needs at least one validation case.")
        if int(every) < 1:
            raise ConfigError(f"Validation every {every} epochs: must be >= 1.")
        self.cases = list(cases)
        self.inferer = inferer
        self.task = task
        self.channel_names = [str(n).lower() for n in task.scored_names]
        self.every = int(every)
        self.call_directly = bool(call_directly)

    def evaluate(self, model: Any) -> dict[str, float]:
        """Mean Dice per channel (``val_dice_<name>``) and overall (``val_dice``)."""
        scores: dict[str, list[float]] = {name: [] for name in self.channel_names}
        predictor = model
        uses_device = getattr(self.inferer, "uses_device", None)
        if self.call_directly and not (uses_device and uses_device(model)):
            # (device blending calls the model itself, not predict_on_batch)
            predictor = lambda batch: model(batch, training=False)  # noqa: E731
        for case in self.cases:
            image, target = validation_arrays(case, self.task)
            # As the Predictor does: nothing is predicted where the input is empty.
            probabilities = background_outside_input(self.inferer(predictor, image), image)
            predicted = self.task.masks(probabilities)
            truth = self.task.masks(target)
            for name, p, t in zip(self.channel_names, predicted, truth, strict=True):
                scores[name].append(dice(p, t))
        result = {f"val_dice_{name}": float(np.mean(values)) for name, values in scores.items()}
        result["val_dice"] = float(np.mean(list(result.values())))
        return result

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        last = epoch + 1 == self.params.get("epochs") if self.params else False
        if logs is None or ((epoch + 1) % self.every and not last):
            return
        logs.update(self.evaluate(self.model))


def read_history(path: str | os.PathLike[str]) -> list[dict[str, float]]:
    """Rows of a ``history.csv``; empty cells (metrics not computed that epoch) are NaN.

    Args:
        path: The ``history.csv`` file; a missing file gives no rows.
    """
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="") as handle:
        for row in csv.DictReader(handle):
            rows.append({k: float(v) if v != "" else math.nan for k, v in row.items()})
    return rows


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


class WorkDirCheckpoint(keras.callbacks.Callback):
    """History, best and last checkpoints in a work directory; NaN stop; early stopping.

    Args:
        work_dir: The run's folder.
        monitor: The log entry that picks ``best.keras`` (``"val_dice"``); epochs
            without it (not validated) do not count.
        mode: ``"max"`` or ``"min"``.
        patience: Stop after this many validated epochs without improvement
            (``None``: never).
        history: The rows of the epochs already done (when resuming).
        chief: Whether this process writes the work directory. In a multi-worker run
            only the chief does; the others keep the history in memory and save the
            model (a step every worker must take part in) into a private temporary
            folder, deleted at once.
        agree: In a multi-worker run, gives every worker the chief's decision (an
            integer; :meth:`~unetseg.training.DistributionContext.from_chief`), so that
            whether ``best.keras`` is saved and whether to stop early are the same on
            every worker even if their validation scores differ in the last digit.

    Each epoch end writes, atomically and in this order, ``history.csv`` (one row per
    epoch), ``best.keras`` if the monitored value improved, and ``last.keras`` (model
    and optimiser state). The number of optimiser steps in ``last.keras`` is what a
    resume trusts; the history is cut back to it, so a crash between two writes loses
    at most the epoch being written. A NaN or infinite loss stops the run at once, with
    nothing written for that epoch: ``last.keras`` stays the last good one.
    """

    def __init__(
        self,
        work_dir: str | os.PathLike[str],
        monitor: str = "val_dice",
        mode: str = "max",
        patience: int | None = None,
        history: Sequence[dict[str, float]] = (),
        chief: bool = True,
        agree: Callable[[int], int] | None = None,
    ) -> None:
        super().__init__()
        self.work_dir = Path(work_dir)
        self.chief = bool(chief)
        self.agree: Callable[[int], int] = agree or int
        self.monitor = monitor
        self.mode = check_choice(mode, ("max", "min"), what="monitor mode")
        if patience is not None and int(patience) < 1:
            raise ConfigError(f"patience must be >= 1 or None, got {patience}.")
        self.patience = patience
        self.history = [dict(row) for row in history]
        self.diverged: tuple[int, int, float] | None = None
        self.stopped_early = False
        self._epoch = 0

    # -- state recomputed from the history, so a resumed run continues it exactly --
    def _better(self, value: float, best: float | None) -> bool:
        if best is None:
            return True
        return value > best if self.mode == "max" else value < best

    def best_and_wait(self) -> tuple[float | None, int]:
        """The best monitored value so far and the validated epochs since it."""
        best, wait = None, 0
        for row in self.history:
            value = row.get(self.monitor, math.nan)
            if not _finite(value):
                continue
            if self._better(value, best):
                best, wait = value, 0
            else:
                wait += 1
        return best, wait

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not _finite(loss):
            self.diverged = (self._epoch, batch, float(loss))
            self.model.stop_training = True

    def _write_history(self) -> None:
        if not self.chief:
            return
        columns: list[str] = []
        for row in self.history:
            columns += [key for key in row if key not in columns]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in self.history:
            writer.writerow({k: "" if not _finite(v) else repr(float(v)) for k, v in row.items()})
        with atomic_write(self.work_dir / "history.csv") as handle:
            handle.write(buffer.getvalue())

    def _save(self, name: str) -> None:
        if not self.chief:
            with tempfile.TemporaryDirectory(prefix="unetseg-worker-") as scratch:
                self.model.save(Path(scratch) / name)
            return
        target = self.work_dir / name
        temporary = self.work_dir / f".{name}.partial.keras"
        self.model.save(temporary)
        default_permissions(temporary)
        os.replace(temporary, target)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.diverged is not None:
            return
        logs = dict(logs or {})
        if not _finite(logs.get("loss", 0.0)):
            self.diverged = (epoch, -1, float(logs["loss"]))
            self.model.stop_training = True
            return
        best_before, _ = self.best_and_wait()
        row = {"epoch": float(epoch + 1)}
        row.update({k: float(v) for k, v in logs.items() if _finite(v)})
        self.history.append(row)
        self._write_history()
        value = row.get(self.monitor, math.nan)
        # Saving is a step every worker takes part in: all follow the chief's decisions.
        if self.agree(int(_finite(value) and self._better(value, best_before))):
            self._save("best.keras")
        self._save("last.keras")
        _, wait = self.best_and_wait()
        if self.agree(int(self.patience is not None and wait >= self.patience)):
            self.stopped_early = True
            self.model.stop_training = True
