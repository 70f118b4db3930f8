"""The :class:`Trainer`: the training loop users would otherwise write, on ``model.fit``.

A run lives in a work directory::

    work_dir/
      config.json   everything needed to rebuild the run (model, loss, optimiser, ...)
      history.csv   one row per epoch: loss, metrics, val_dice_*, patches/s, learning rate
      best.keras    the model (with optimiser state) of the best validated epoch
      last.keras    the model and optimiser state after the last completed epoch

Every file is written atomically. Calling :meth:`Trainer.fit` again on the same work
directory (or :meth:`Trainer.resume`) continues from the last completed epoch: the
optimiser state in ``last.keras`` carries the learning-rate schedule's position, the
patch batches are drawn from ``(seed, epoch, batch)``, and the global seeds are set
from ``(seed, epoch)`` at each epoch start, so the resumed run repeats the
uninterrupted one.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from unetseg.errors import ConfigError, UnetsegError, check_choice
from unetseg.fileio import atomic_write
from unetseg.inference import SlidingWindowInferer
from unetseg.losses import LOSSES, DeepSupervision
from unetseg.metrics import METRICS
from unetseg.networks import NETWORKS, UNetConfig
from unetseg.training.callbacks import (
    SlidingWindowValidation,
    Throughput,
    WorkDirCheckpoint,
    read_history,
)
from unetseg.training.distribution import DistributionContext
from unetseg.training.schedules import build_optimizer, build_schedule

__all__ = ["Trainer", "TrainingError"]

_PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")


class TrainingError(UnetsegError, RuntimeError):
    """Training could not go on (a NaN loss); the message says what was kept."""


class _RepeatTargets(keras.utils.PyDataset):
    """Feed a deep-supervision model: the one target once per output head."""

    def __init__(self, dataset: Any, heads: int) -> None:
        super().__init__(
            workers=getattr(dataset, "workers", 1),
            use_multiprocessing=getattr(dataset, "use_multiprocessing", False),
            max_queue_size=getattr(dataset, "max_queue_size", 10),
        )
        self.dataset, self.heads = dataset, heads

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> tuple[Any, tuple[Any, ...]]:
        x, y = self.dataset[index]
        return x, (y,) * self.heads

    def on_epoch_end(self) -> None:
        self.dataset.on_epoch_end()


class _EpochStart(keras.callbacks.Callback):
    """At every epoch start: seed Python, NumPy and the backend from ``(seed, epoch)``,
    and tell the training data which epoch it serves.

    Keras calls a ``PyDataset``'s ``on_epoch_end`` at its own times (TensorFlow also
    once before the first epoch, after peeking at batches for their shapes); setting
    the epoch here makes the batches of epoch ``e`` the same on every backend and in a
    resumed run.
    """

    def __init__(self, seed: int, train_data: Any) -> None:
        super().__init__()
        self.seed, self.train_data = seed, train_data

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        seed = np.random.SeedSequence([self.seed, epoch]).generate_state(1)[0]
        keras.utils.set_random_seed(int(seed) % 2**31)
        if hasattr(self.train_data, "epoch"):
            self.train_data.epoch = epoch


def _without_names(value: Any) -> Any:
    """A serialised Keras object without its ``name`` (Keras numbers repeated names)."""
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k != "name"}
    if isinstance(value, list):
        return [_without_names(v) for v in value]
    return value


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=lambda v: getattr(v, "tolist", lambda: str(v))()))


class Trainer:
    """Train a segmentation model, validate it on whole volumes and keep its checkpoints.

    Args:
        model: A :class:`~unetseg.networks.UNetConfig`, a preset name of
            :data:`~unetseg.networks.NETWORKS` (or ``(name, overrides)``), or a built
            ``keras.Model``. Mixed precision and data parallelism need the first two,
            so the Trainer builds the model under the right policy and devices.
        loss: A loss instance or a name in :data:`~unetseg.losses.LOSSES` (or
            ``(name, kwargs)``). A model with several outputs (deep supervision) gets
            it wrapped in :class:`~unetseg.losses.DeepSupervision`.
        optimizer: ``"sgd"`` (Nesterov momentum 0.99, nnU-Net), ``"adamw"``, ``"adam"``
            or a ``keras.optimizers.Optimizer``.
        metrics: Keras metric instances or names in :data:`~unetseg.metrics.METRICS`,
            computed on the training patches (of the first output).
        work_dir: The run's folder (see the module documentation).
        learning_rate: The initial (peak) learning rate.
        schedule: ``"poly"`` (nnU-Net, power 0.9), ``"cosine"`` (with linear warm-up)
            or ``"constant"``.
        warmup_epochs: Epochs of linear warm-up (``"cosine"`` only).
        weight_decay: Overrides the optimiser's default weight decay.
        clipnorm: Gradient norm clipping (nnU-Net: 12); ``None`` for none.
        precision: ``"float32"``, ``"mixed_float16"`` or ``"mixed_bfloat16"``; the
            output layer stays float32.
        distribute: ``None`` (one device) or ``"data_parallel"``: the batch is split
            over ``devices`` — ``tf.distribute.MirroredStrategy`` on TensorFlow,
            ``keras.distribution.DataParallel`` on JAX.
        devices: The devices for ``"data_parallel"`` (default: all GPUs, else all CPUs).
        jit_compile: Passed to ``model.compile`` (``"auto"``: XLA where the backend
            supports it).
        seed: The seed of the weights and of the per-epoch global seeds.
        val_roi_size: The window of the validation's sliding-window inference; by
            default the training patch size.
        val_every: Validate on whole volumes every this many epochs.
        val_overlap: Window overlap of the validation.
        val_mode: ``"threshold"`` for region (sigmoid) outputs, ``"argmax"`` for
            class (softmax) outputs.
        channel_names: Names of the scored output channels in the logs.
        monitor: The log entry that picks ``best.keras`` and drives early stopping.
        monitor_mode: ``"max"`` or ``"min"``.
        patience: Early stopping after this many validations without improvement.
        verbose: Keras's progress bar (1), one line per epoch (2) or silence (0).

    Raises:
        ConfigError: For an invalid or inconsistent setting (the message names it).

    Example:
        ``Trainer("nnunet_3d", "dice_ce", work_dir="runs/fold0").fit(patches,
        val_cases, epochs=1000, steps_per_epoch=250)``
    """

    def __init__(
        self,
        model: Any,
        loss: Any = "dice_ce",
        optimizer: Any = "sgd",
        metrics: Sequence[Any] | None = None,
        *,
        work_dir: str | os.PathLike[str],
        learning_rate: float = 1e-2,
        schedule: str | None = "poly",
        warmup_epochs: int = 0,
        weight_decay: float | None = None,
        clipnorm: float | None = 12.0,
        precision: str = "float32",
        distribute: str | None = None,
        devices: Sequence[Any] | None = None,
        jit_compile: bool | str = "auto",
        seed: int = 0,
        val_roi_size: Sequence[int] | None = None,
        val_every: int = 1,
        val_overlap: float = 0.5,
        val_mode: str = "threshold",
        channel_names: Sequence[str] = ("wt", "tc", "et"),
        monitor: str = "val_dice",
        monitor_mode: str = "max",
        patience: int | None = None,
        verbose: int = 1,
    ) -> None:
        self.work_dir = Path(work_dir)
        self.precision = check_choice(precision, _PRECISIONS, what="precision")
        if learning_rate <= 0:
            raise ConfigError(f"learning_rate must be > 0, got {learning_rate}.")
        if int(warmup_epochs) < 0:
            raise ConfigError(f"warmup_epochs must be >= 0, got {warmup_epochs}.")
        if int(val_every) < 1:
            raise ConfigError(f"val_every must be >= 1, got {val_every}.")
        self.distribution = DistributionContext(distribute, devices)
        self.seed = int(seed)
        self.learning_rate = float(learning_rate)
        self.schedule = schedule
        self.warmup_epochs = int(warmup_epochs)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.jit_compile = jit_compile
        self.val_roi_size = tuple(val_roi_size) if val_roi_size is not None else None
        self.val_every = int(val_every)
        self.val_overlap = float(val_overlap)
        self.val_mode = check_choice(val_mode, ("threshold", "argmax"), what="val_mode")
        self.channel_names = tuple(channel_names)
        self.monitor = monitor
        self.monitor_mode = check_choice(monitor_mode, ("max", "min"), what="monitor_mode")
        self.patience = patience
        self.verbose = int(verbose)
        self._optimizer_spec = optimizer
        self._metric_specs = list(metrics or [])
        self.loss = LOSSES.create(loss) if isinstance(loss, (str, tuple)) else loss
        self.model_config, self.model = self._build_model(model)
        self.heads = len(self.model.outputs)
        with self.distribution.scope():
            self.metrics = self._metrics()
        self._patch_size: Sequence[int] | None = None

    # -- construction --------------------------------------------------------------
    def _build_model(self, model: Any) -> tuple[dict[str, Any] | None, keras.Model]:
        if isinstance(model, keras.Model):
            policy = getattr(model.dtype_policy, "name", "float32")
            if policy != self.precision:
                raise ConfigError(
                    f"The model was built with dtype policy {policy!r} but precision="
                    f"{self.precision!r}; pass a UNetConfig or preset name so the Trainer "
                    "builds it under that policy."
                )
            if self.distribution.enabled:
                raise ConfigError(
                    "distribute='data_parallel' needs the model as a UNetConfig or preset "
                    "name, so the Trainer can create its weights on every device."
                )
            return None, model
        if isinstance(model, (str, tuple)):
            model = NETWORKS.create(model)
        if not isinstance(model, UNetConfig):
            raise ConfigError(
                f"model must be a UNetConfig, a preset name in NETWORKS or a keras.Model, got "
                f"{type(model).__name__}."
            )
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.precision)
        try:
            keras.utils.set_random_seed(self.seed)
            with self.distribution.scope():
                built = model.build()
        finally:
            keras.config.set_dtype_policy(previous)
        return model.to_dict(), built

    def _metrics(self) -> list[Any]:
        """Metric instances; names get the model's channel count and ``val_mode``."""
        channels = int(self.model.outputs[0].shape[-1])
        metrics = []
        for spec in self._metric_specs:
            if isinstance(spec, (str, tuple)):
                name, kwargs = METRICS.split_spec(spec)
                defaults = {"num_channels": channels, "mode": self.val_mode, "name": name}
                accepted = inspect.signature(METRICS.get(name)).parameters
                kwargs = {**{k: v for k, v in defaults.items() if k in accepted}, **kwargs}
                spec = METRICS.create((name, kwargs))
            metrics.append(spec)
        return metrics

    def _compile(self, total_steps: int, steps_per_epoch: int) -> None:
        with self.distribution.scope():  # the optimiser's variables live on every device
            optimizer = self._optimizer(total_steps, steps_per_epoch)
            if self.heads > 1:
                loss = self.loss if isinstance(self.loss, DeepSupervision) else None
                arguments = (loss or DeepSupervision(self.loss)).compile_arguments(self.heads)
                metrics = [self.metrics] + [[] for _ in range(self.heads - 1)]
            else:
                arguments, metrics = {"loss": self.loss}, self.metrics
            self.model.compile(
                optimizer=optimizer, metrics=metrics, jit_compile=self.jit_compile, **arguments
            )

    def _optimizer(self, total_steps: int, steps_per_epoch: int) -> keras.optimizers.Optimizer:
        optimizer = self._optimizer_spec
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            rate = build_schedule(
                self.schedule,
                self.learning_rate,
                total_steps,
                warmup_steps=self.warmup_epochs * steps_per_epoch,
            )
            optimizer = build_optimizer(
                optimizer, rate, weight_decay=self.weight_decay, clipnorm=self.clipnorm
            )
        if self.precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    # -- the work directory ------------------------------------------------------------
    def run_config(self, epochs: int, steps_per_epoch: int, batch_size: int | None) -> dict:
        """What ``config.json`` holds: everything needed to rebuild this run."""
        import unetseg

        optimizer = self._optimizer_spec
        if isinstance(optimizer, keras.optimizers.Optimizer):
            optimizer = keras.saving.serialize_keras_object(optimizer)
        return _jsonable(
            {
                "unetseg": unetseg.__version__,
                "backend": keras.backend.backend(),
                "model": self.model_config
                if self.model_config is not None
                else {"keras_model": self.model.get_config()},
                "loss": keras.saving.serialize_keras_object(self.loss),
                "optimizer": optimizer,
                "metrics": [keras.saving.serialize_keras_object(m) for m in self.metrics],
                "learning_rate": self.learning_rate,
                "schedule": self.schedule,
                "warmup_epochs": self.warmup_epochs,
                "weight_decay": self.weight_decay,
                "clipnorm": self.clipnorm,
                "precision": self.precision,
                "distribute": self.distribution.describe(),
                "jit_compile": self.jit_compile,
                "seed": self.seed,
                "epochs": epochs,
                "steps_per_epoch": steps_per_epoch,
                "batch_size": batch_size,
                "validation": {
                    "roi_size": self.val_roi_size,
                    "every": self.val_every,
                    "overlap": self.val_overlap,
                    "mode": self.val_mode,
                    "channel_names": self.channel_names,
                },
                "monitor": self.monitor,
                "monitor_mode": self.monitor_mode,
                "patience": self.patience,
            }
        )

    def _check_work_dir(self, config: dict, force: bool) -> bool:
        """Write or compare ``config.json``; return whether there is a run to resume."""
        path = self.work_dir / "config.json"
        self.work_dir.mkdir(parents=True, exist_ok=True)
        if path.is_file():
            stored = json.loads(path.read_text())
            differing = sorted(
                key
                for key in set(stored) | set(config)
                if key != "unetseg"
                and _without_names(stored.get(key)) != _without_names(config.get(key))
            )
            if differing and not force:
                changes = "; ".join(
                    f"{key}: {stored.get(key)!r} → {config.get(key)!r}"[:200] for key in differing
                )
                raise ConfigError(
                    f"The work directory {self.work_dir} holds a run with a different "
                    f"configuration ({changes}). Use another work_dir, or force=True to "
                    "continue it with the new configuration."
                )
        with atomic_write(path) as handle:
            json.dump(config, handle, indent=2)
        return (self.work_dir / "last.keras").is_file()

    def _restore(self, steps_per_epoch: int) -> tuple[int, list[dict[str, float]]]:
        """Load ``last.keras``; return the completed epochs and their history."""
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.precision)
        try:
            with self.distribution.scope():
                self.model = keras.saving.load_model(self.work_dir / "last.keras")
        finally:
            keras.config.set_dtype_policy(previous)
        iterations = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        completed = iterations // steps_per_epoch
        history = read_history(self.work_dir / "history.csv")[:completed]
        return completed, history

    # -- training ----------------------------------------------------------------------
    def fit(
        self,
        train_data: Any,
        val_data: Sequence[Any] | None = None,
        *,
        epochs: int,
        steps_per_epoch: int | None = None,
        resume: bool = True,
        force: bool = False,
        callbacks: Sequence[keras.callbacks.Callback] = (),
    ) -> list[dict[str, float]]:
        """Train for ``epochs`` epochs (in all, counting those of a resumed run).

        Args:
            train_data: A ``keras.utils.PyDataset`` of ``(image, target)`` batches, such
                as :class:`~unetseg.data.PatchDataset`.
            val_data: Whole validation volumes for sliding-window Dice (cached cases,
                ``(image, target)`` pairs or records), or ``None``.
            epochs: The total number of epochs.
            steps_per_epoch: Batches per epoch (default: ``len(train_data)``).
            resume: Continue the run in ``work_dir`` if there is one.
            force: Continue it even if its configuration differs.
            callbacks: More Keras callbacks; they run after the Trainer's own, so
                their logs hold the validation Dice and throughput.

        Returns:
            The history, one dictionary per epoch (earlier epochs of a resumed run
            included).

        Raises:
            ConfigError: For invalid settings or a work directory of another run.
            TrainingError: If the loss became NaN or infinite (``last.keras`` then holds
                the last good epoch).
        """
        if int(epochs) < 1:
            raise ConfigError(f"epochs must be >= 1, got {epochs}.")
        if not isinstance(train_data, keras.utils.PyDataset):
            raise ConfigError(
                "train_data must be a keras.utils.PyDataset of (image, target) batches, such "
                f"as unetseg.data.PatchDataset; got {type(train_data).__name__}."
            )
        steps = int(steps_per_epoch or len(train_data))
        if steps < 1:
            raise ConfigError(f"steps_per_epoch must be >= 1, got {steps}.")
        batch_size = getattr(train_data, "batch_size", None)
        self._patch_size = getattr(train_data, "patch_size", None)
        config = self.run_config(int(epochs), steps, batch_size)
        resumable = self._check_work_dir(config, force) and resume
        self._compile(int(epochs) * steps, steps)
        initial_epoch, history = self._restore(steps) if resumable else (0, [])
        if initial_epoch >= epochs:
            return history
        data = _RepeatTargets(train_data, self.heads) if self.heads > 1 else train_data
        checkpoint = WorkDirCheckpoint(
            self.work_dir, self.monitor, self.monitor_mode, self.patience, history
        )
        own: list[keras.callbacks.Callback] = [
            _EpochStart(self.seed, train_data),
            Throughput(batch_size),
        ]
        if val_data is not None:
            own.append(self._validation(val_data, train_data))
        own.append(checkpoint)
        with self.distribution.scope():
            self.model.fit(
                data,
                epochs=int(epochs),
                steps_per_epoch=steps,
                initial_epoch=initial_epoch,
                callbacks=[*own, *callbacks],
                verbose=self.verbose,
            )
        if checkpoint.diverged is not None:
            epoch, batch, loss = checkpoint.diverged
            where = (
                f"batch {batch + 1} of epoch {epoch + 1}" if batch >= 0 else f"epoch {epoch + 1}"
            )
            kept = (
                f"{self.work_dir / 'last.keras'} holds epoch {epoch}"
                if epoch
                else "no epoch completed"
            )
            raise TrainingError(
                f"The training loss became {loss} at {where}; training stopped and {kept}. "
                "Lower the learning rate, use clipnorm, or check the data for NaN/inf values."
            )
        return checkpoint.history

    def _validation(self, val_data: Sequence[Any], train_data: Any) -> SlidingWindowValidation:
        return SlidingWindowValidation(
            list(val_data),
            self.inferer(train_data),
            channel_names=self.channel_names,
            every=self.val_every,
            mode=self.val_mode,
            call_directly=self.distribution.enabled and self.distribution.backend == "tensorflow",
        )

    def inferer(self, train_data: Any = None) -> SlidingWindowInferer:
        """The sliding-window inferer of validation and :meth:`predict`."""
        roi = self.val_roi_size
        if roi is None and train_data is not None:
            roi = getattr(train_data, "patch_size", None)
        if roi is None:
            roi = self._patch_size
        if roi is None:
            shape = self.model.inputs[0].shape[1:-1]
            if None in shape:
                raise ConfigError(
                    "Set val_roi_size: the model has no fixed input size and the training "
                    "data no patch_size to take the window size from."
                )
            roi = shape
        activation = "softmax" if self.val_mode == "argmax" else "sigmoid"
        return SlidingWindowInferer(
            tuple(int(r) for r in roi), overlap=self.val_overlap, activation=activation
        )

    def evaluate(self, cases: Sequence[Any]) -> dict[str, float]:
        """Mean Dice per channel over whole volumes (``val_dice_<name>`` and ``val_dice``)."""
        return self._validation(cases, None).evaluate(self.model)

    def predict(self, image: Any) -> np.ndarray:
        """Probabilities for a whole image ``(*spatial, C)`` by sliding-window inference."""
        return self.inferer()(self.model, image)

    @classmethod
    def resume(
        cls,
        work_dir: str | os.PathLike[str],
        train_data: Any,
        val_data: Sequence[Any] | None = None,
        **overrides: Any,
    ) -> tuple[Trainer, list[dict[str, float]]]:
        """Rebuild the run of ``work_dir`` from its ``config.json`` and finish it.

        Returns:
            The trainer and the full history.

        Raises:
            ConfigError: If ``work_dir`` holds no run.
        """
        path = Path(work_dir) / "config.json"
        if not path.is_file():
            raise ConfigError(f"{work_dir} holds no training run (no config.json).")
        config = json.loads(path.read_text())
        if "keras_model" in config["model"]:
            model: Any = keras.saving.load_model(Path(work_dir) / "last.keras")
        else:
            model = UNetConfig.from_dict(config["model"])
        validation = config["validation"]
        trainer = cls(
            model,
            keras.saving.deserialize_keras_object(config["loss"]),
            config["optimizer"]
            if isinstance(config["optimizer"], str)
            else keras.saving.deserialize_keras_object(config["optimizer"]),
            [keras.saving.deserialize_keras_object(m) for m in config["metrics"]],
            work_dir=work_dir,
            learning_rate=config["learning_rate"],
            schedule=config["schedule"],
            warmup_epochs=config["warmup_epochs"],
            weight_decay=config["weight_decay"],
            clipnorm=config["clipnorm"],
            precision=config["precision"],
            distribute=config["distribute"]["mode"],
            jit_compile=config["jit_compile"],
            seed=config["seed"],
            val_roi_size=validation["roi_size"],
            val_every=validation["every"],
            val_overlap=validation["overlap"],
            val_mode=validation["mode"],
            channel_names=validation["channel_names"],
            monitor=config["monitor"],
            monitor_mode=config["monitor_mode"],
            patience=config["patience"],
            **overrides,
        )
        history = trainer.fit(
            train_data,
            val_data,
            epochs=config["epochs"],
            steps_per_epoch=config["steps_per_epoch"],
        )
        return trainer, history
