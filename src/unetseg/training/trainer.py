"""The :class:`Trainer`: the training loop users would otherwise write, on ``model.fit``.

A run lives in a work directory::

    work_dir/
      config.json   everything needed to rebuild the run: the model, the
                    TrainerConfig (task, loss, optimiser, ...), epochs and steps
      history.csv   one row per epoch: loss, metrics, val_dice_*, patches/s, learning rate
      best.keras    the model (with optimiser state) of the best validated epoch
      last.keras    the model and optimiser state after the last completed epoch

Every file is written atomically. Calling :meth:`Trainer.fit` again on the same work
directory (or :meth:`Trainer.resume`) continues from the last completed epoch: the
optimiser state in ``last.keras`` carries the learning-rate schedule's position, the
patch batches are drawn from ``(seed, epoch, batch)``, and the global seeds are set
from ``(seed, epoch)`` at each epoch start, so the resumed run repeats the
uninterrupted one. In a multi-worker run (``distribute="multi_worker"``) only the chief
writes the work directory; every worker resumes from the epoch the chief decides.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from unetseg.errors import ConfigError, UnetsegError
from unetseg.fileio import to_json_value
from unetseg.inference import SlidingWindowInferer
from unetseg.losses import DeepSupervision, build_loss
from unetseg.networks import NETWORKS, UNetConfig, output_activation
from unetseg.registries import LOSSES, METRICS
from unetseg.registry import accepted_keywords
from unetseg.training.callbacks import (
    EpochStart,
    SlidingWindowValidation,
    Throughput,
    WorkDirCheckpoint,
    read_history,
)
from unetseg.training.config import TrainerConfig
from unetseg.training.distribution import DistributionContext
from unetseg.training.schedules import build_optimizer, build_schedule
from unetseg.training.workdir import claim_work_dir, copy_optimizer_state

__all__ = ["Trainer", "TrainingError"]


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


def _with_defaults(factory: Any, options: Mapping[str, Any], defaults: Mapping[str, Any]) -> dict:
    """``options`` plus those ``defaults`` the factory takes and ``options`` does not set."""
    accepted = accepted_keywords(factory)
    return {**{k: v for k, v in defaults.items() if k in accepted}, **options}


class Trainer:
    """Train a segmentation model, validate it on whole volumes and keep its checkpoints.

    Args:
        model: A :class:`~unetseg.networks.UNetConfig`, a preset name of
            :data:`~unetseg.networks.NETWORKS` (or ``(name, overrides)``), or a built
            ``keras.Model``. Mixed precision and data parallelism need the first two,
            so the Trainer builds the model under the right policy and devices.
        config: The run's :class:`~unetseg.training.TrainerConfig`: task, loss,
            optimiser, schedule, precision, validation and stopping.
        work_dir: The run's folder (see the module documentation).
        loss: A ``keras.losses.Loss`` to use instead of ``config.loss``; a name (or
            ``(name, options)``) sets ``config.loss`` (and ``loss_options``).
        optimizer: A ``keras.optimizers.Optimizer`` to use instead of
            ``config.optimizer`` (and its schedule); a name sets ``config.optimizer``.
        metrics: Keras metric instances to use instead of ``config.metrics``; names
            set ``config.metrics``.
        devices: The devices for ``distribute="data_parallel"`` (default: all GPUs,
            else all CPUs).
        verbose: Keras's progress bar (1), one line per epoch (2) or silence (0).
        **settings: Fields of :class:`~unetseg.training.TrainerConfig`, set on
            ``config`` (or making one, with ``task``): ``Trainer(model, task=...,
            optimizer="adamw", work_dir=...)``.

    What the model's outputs mean comes from ``config.task`` and whether they are
    logits from the model itself (:func:`~unetseg.networks.output_activation`): the
    loss and the metrics get that activation and ``from_logits``, validation scores
    the task's channels, and :meth:`predict` applies the activation only to logits.

    Raises:
        ConfigError: For an invalid or inconsistent setting (the message names it),
            such as a model whose output channels or activation do not fit the task.

    Example:
        ``Trainer("nnunet_3d", TrainerConfig(task="brats_regions", loss="dice_ce"),
        work_dir="runs/fold0").fit(patches, val_cases, epochs=1000)``
    """

    def __init__(
        self,
        model: Any,
        config: TrainerConfig | None = None,
        *,
        work_dir: str | os.PathLike[str],
        loss: keras.losses.Loss | str | tuple[str, dict] | None = None,
        optimizer: keras.optimizers.Optimizer | str | None = None,
        metrics: Sequence[keras.metrics.Metric | str] | None = None,
        devices: Sequence[Any] | None = None,
        verbose: int = 1,
        **settings: Any,
    ) -> None:
        if config is not None and not isinstance(config, TrainerConfig):
            raise ConfigError(
                f"The second argument of Trainer is a TrainerConfig, got {config!r}; give a "
                "loss name as loss=... (or in the TrainerConfig)."
            )
        # Names are settings of the configuration; instances replace what it would build.
        if isinstance(loss, str):
            settings["loss"], loss = loss, None
        elif isinstance(loss, tuple):
            (settings["loss"], settings["loss_options"]), loss = loss, None
        if isinstance(optimizer, str):
            settings["optimizer"], optimizer = optimizer, None
        if metrics is not None and all(isinstance(m, str) for m in metrics):
            settings["metrics"], metrics = tuple(metrics), None
        elif metrics is not None and any(isinstance(m, str | tuple) for m in metrics):
            raise ConfigError(
                f"metrics takes names in METRICS or Keras metric instances, not a mix: {metrics!r}."
            )
        if config is None:
            config = TrainerConfig.from_dict(settings)
        elif settings:
            config = config.replace(**settings)
        self.config = config
        self.task = config.task
        self.work_dir = Path(work_dir)
        self.verbose = int(verbose)
        self.distribution = DistributionContext(config.distribute, devices)
        self._optimizer_instance = optimizer
        # Which components were given as objects, not built from the configuration:
        # a resumed run rebuilds the others from its (possibly changed) configuration.
        self._instances = [
            name
            for name, given in (("loss", loss), ("optimizer", optimizer), ("metrics", metrics))
            if given is not None
        ]
        self.model_config, self.model = self._build_model(model)
        self.heads = len(self.model.outputs)
        self.from_logits = self._check_outputs()
        self.loss = build_loss(loss) if loss is not None else self._loss()
        with self.distribution.scope():
            self.metrics = list(metrics) if metrics is not None else self._metrics()
        self._patch_size: Sequence[int] | None = None

    # -- construction --------------------------------------------------------------
    def _build_model(self, model: Any) -> tuple[dict[str, Any] | None, keras.Model]:
        precision = self.config.precision
        if isinstance(model, keras.Model):
            policy = getattr(model.dtype_policy, "name", "float32")
            if policy != precision:
                raise ConfigError(
                    f"The model was built with dtype policy {policy!r} but precision="
                    f"{precision!r}; pass a UNetConfig or preset name so the Trainer "
                    "builds it under that policy."
                )
            if self.distribution.enabled:
                raise ConfigError(
                    f"distribute={self.config.distribute!r} needs the model as a UNetConfig or "
                    "preset name, so the Trainer can create its weights on every device."
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
        keras.config.set_dtype_policy(precision)
        try:
            keras.utils.set_random_seed(self.config.seed)
            with self.distribution.scope():
                built = model.build()
        finally:
            keras.config.set_dtype_policy(previous)
        return model.to_dict(), built

    def _check_outputs(self) -> bool:
        """Check the model against the task; return whether it outputs logits."""
        channels = int(self.model.outputs[0].shape[-1])
        task = self.task
        if channels != task.out_channels:
            raise ConfigError(
                f"The model has {channels} output channels but the task {task.name!r} has "
                f"{task.out_channels} ({', '.join(task.channel_names)})."
            )
        activation = output_activation(self.model)
        if activation is not None and activation != task.activation:
            raise ConfigError(
                f"The model ends in a {activation} but the task {task.name!r} is {task.kind} "
                f"({task.activation}); build it with output_activation=None (logits) or "
                f"{task.activation!r}."
            )
        return activation is None

    def _loss(self) -> keras.losses.Loss:
        stated = self.config.loss_options.get("from_logits", self.from_logits)
        if stated != self.from_logits:
            raise ConfigError(
                f"loss_options from_logits={stated} contradicts the model, whose output is "
                f"{'logits' if self.from_logits else 'probabilities'}; leave from_logits out."
            )
        defaults = {"activation": self.task.activation, "from_logits": self.from_logits}
        options = _with_defaults(LOSSES.get(self.config.loss), self.config.loss_options, defaults)
        return build_loss((self.config.loss, options))

    def _metrics(self) -> list[Any]:
        """Metric instances from ``config.metrics``, told the task and the model's output."""
        defaults = {
            "num_channels": self.task.out_channels,
            "activation": self.task.activation,
            "from_logits": self.from_logits,
        }
        return [
            METRICS.create(name, **_with_defaults(METRICS.get(name), {"name": name}, defaults))
            for name in self.config.metrics
        ]

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
                optimizer=optimizer,
                metrics=metrics,
                jit_compile=self.config.jit_compile,
                **arguments,
            )

    def _optimizer(self, total_steps: int, steps_per_epoch: int) -> keras.optimizers.Optimizer:
        optimizer = self._optimizer_instance
        if optimizer is None:
            config = self.config
            rate = build_schedule(
                config.schedule,
                config.learning_rate,
                total_steps,
                warmup_steps=config.warmup_epochs * steps_per_epoch,
            )
            optimizer = build_optimizer(
                config.optimizer, rate, weight_decay=config.weight_decay, clipnorm=config.clipnorm
            )
        if self.config.precision == "mixed_float16":
            optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
        return optimizer

    # -- the work directory ------------------------------------------------------------
    def run_config(self, epochs: int, steps_per_epoch: int, batch_size: int | None) -> dict:
        """What ``config.json`` holds: everything needed to rebuild this run."""
        import unetseg

        serialize = keras.saving.serialize_keras_object
        optimizer = self._optimizer_instance
        return to_json_value(
            {
                "unetseg": unetseg.__version__,
                "backend": keras.backend.backend(),
                "model": self.model_config
                if self.model_config is not None
                else {"keras_model": self.model.get_config()},
                "trainer": self.config.to_dict(),
                "loss": serialize(self.loss),
                "optimizer": serialize(optimizer) if optimizer is not None else None,
                "metrics": [serialize(m) for m in self.metrics],
                "instances": self._instances,
                "distribute": self.distribution.describe(),
                "epochs": epochs,
                "steps_per_epoch": steps_per_epoch,
                "batch_size": batch_size,
            }
        )

    def _restore(
        self, total_steps: int, steps_per_epoch: int
    ) -> tuple[int, list[dict[str, float]]]:
        """Load ``last.keras`` and compile it with this configuration's optimiser, loss
        and metrics, carrying the saved optimiser state over; return the completed epochs
        and their history.

        Compiling afresh is what makes a changed setting (a longer run, another learning
        rate) take effect: the optimiser saved in the file still has the old schedule,
        which would reach 0 at the old last step.
        """
        previous = keras.config.dtype_policy()
        keras.config.set_dtype_policy(self.config.precision)
        try:
            with self.distribution.scope():
                self.model = keras.saving.load_model(self.work_dir / "last.keras")
        finally:
            keras.config.set_dtype_policy(previous)
        saved = self.model.optimizer
        self._compile(total_steps, steps_per_epoch)
        with self.distribution.scope():
            self.model.optimizer.build(self.model.trainable_variables)
            copy_optimizer_state(saved, self.model.optimizer)
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
        steps = self._check_fit(train_data, int(epochs), steps_per_epoch)
        batch_size = getattr(train_data, "batch_size", None)
        self._patch_size = getattr(train_data, "patch_size", None)
        self._assign_worker(train_data)
        config = self.run_config(int(epochs), steps, batch_size)
        resumable = self._claim(config, resume=resume, force=force)
        if resumable:
            initial_epoch, history = self._restore(int(epochs) * steps, steps)
            chiefs = self.distribution.from_chief(initial_epoch)
            if chiefs != initial_epoch:
                raise ConfigError(
                    f"Worker {self.distribution.worker_index} read epoch {initial_epoch} from "
                    f"{self.work_dir / 'last.keras'} but the chief read epoch {chiefs}; the "
                    "work directory must be one folder every worker shares."
                )
        else:
            self._compile(int(epochs) * steps, steps)
            initial_epoch, history = 0, []
        if initial_epoch >= epochs:
            return history
        data = _RepeatTargets(train_data, self.heads) if self.heads > 1 else train_data
        checkpoint = WorkDirCheckpoint(
            self.work_dir,
            self.config.monitor,
            self.config.monitor_mode,
            self.config.patience,
            history,
            chief=self.distribution.is_chief,
            agree=self.distribution.from_chief,
        )
        workers = self.distribution.num_workers
        own: list[keras.callbacks.Callback] = [
            EpochStart(self.config.seed, train_data),
            Throughput(batch_size * workers if batch_size is not None else None),
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
            raise _diverged(checkpoint.diverged, self.work_dir)
        return checkpoint.history

    def _assign_worker(self, train_data: Any) -> None:
        """In a multi-worker run, make this worker draw its own batches."""
        if self.distribution.mode != "multi_worker":
            return
        if not hasattr(train_data, "worker"):
            raise ConfigError(
                "distribute='multi_worker' needs training data with a 'worker' attribute, "
                "such as unetseg.data.PatchDataset, so that each worker draws its own "
                f"batches; got {type(train_data).__name__}."
            )
        train_data.worker = self.distribution.worker_index

    def _claim(self, config: dict[str, Any], *, resume: bool, force: bool) -> bool:
        """Claim the work directory (the chief alone writes it); return whether to resume.

        Every worker takes the chief's decision, so all start from the same epoch.
        """
        distribution = self.distribution
        if distribution.is_chief:
            try:
                resumable = claim_work_dir(self.work_dir, config, force=force) and resume
            except BaseException:  # a refusal, an unreadable folder: tell the others first
                distribution.from_chief(-1)
                raise
            return bool(distribution.from_chief(int(resumable)))
        decision = distribution.from_chief(0)
        if decision < 0:
            raise ConfigError(
                f"Worker {distribution.worker_index}: the chief could not claim the work "
                f"directory {self.work_dir} (its error says why)."
            )
        if decision and not (self.work_dir / "last.keras").is_file():
            raise ConfigError(
                f"Worker {distribution.worker_index}: the chief resumes the run in "
                f"{self.work_dir}, but this worker finds no last.keras there; the work "
                "directory must be on a file system every worker shares."
            )
        return bool(decision)

    def _check_fit(self, train_data: Any, epochs: int, steps_per_epoch: int | None) -> int:
        """Check the arguments of :meth:`fit`; return the steps per epoch."""
        if epochs < 1:
            raise ConfigError(f"epochs must be >= 1, got {epochs}.")
        if self.config.warmup_epochs >= epochs:
            raise ConfigError(
                f"warmup_epochs ({self.config.warmup_epochs}) must be fewer than the "
                f"epochs ({epochs})."
            )
        if not isinstance(train_data, keras.utils.PyDataset):
            raise ConfigError(
                "train_data must be a keras.utils.PyDataset of (image, target) batches, such "
                f"as unetseg.data.PatchDataset; got {type(train_data).__name__}."
            )
        steps = int(steps_per_epoch or len(train_data))
        if steps < 1:
            raise ConfigError(f"steps_per_epoch must be >= 1, got {steps}.")
        return steps

    def _validation(self, val_data: Sequence[Any], train_data: Any) -> SlidingWindowValidation:
        return SlidingWindowValidation(
            list(val_data),
            self.inferer(train_data),
            self.task,
            every=self.config.val_every,
            call_directly=self.distribution.enabled and self.distribution.backend == "tensorflow",
        )

    def inferer(self, train_data: Any = None) -> SlidingWindowInferer:
        """The sliding-window inferer of validation and :meth:`predict`.

        Its window is ``config.val_roi_size``, else the training patch size, else the
        model's input size; it applies the task's activation when the model outputs
        logits, and nothing when the model outputs probabilities already.
        """
        roi = self.config.val_roi_size
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
        return SlidingWindowInferer(
            tuple(int(r) for r in roi),
            overlap=self.config.val_overlap,
            blending=self.config.val_blending,
            activation=self.task.activation if self.from_logits else None,
        )

    def evaluate(self, cases: Sequence[Any]) -> dict[str, float]:
        """Mean Dice per scored channel over whole volumes (``val_dice_<name>``, ``val_dice``)."""
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
        *,
        epochs: int | None = None,
        devices: Sequence[Any] | None = None,
        verbose: int = 1,
        **overrides: Any,
    ) -> tuple[Trainer, list[dict[str, float]]]:
        """Rebuild the run of ``work_dir`` from its ``config.json`` and finish it.

        Args:
            work_dir: The run's folder.
            train_data: The training batches, as for :meth:`fit`.
            val_data: The validation cases, as for :meth:`fit`.
            epochs: Train to this many epochs instead of the stored number.
            devices: The devices of a data-parallel run.
            verbose: Keras's progress output.
            **overrides: :class:`~unetseg.training.TrainerConfig` fields to change
                (``val_every=5``); the run continues with them (``force``).

        Returns:
            The trainer and the full history.

        Raises:
            ConfigError: If ``work_dir`` holds no run, or an override is invalid.
        """
        path = Path(work_dir) / "config.json"
        if not path.is_file():
            raise ConfigError(f"{work_dir} holds no training run (no config.json).")
        stored = json.loads(path.read_text())
        if "trainer" not in stored:
            raise ConfigError(
                f"{path} was written by unetseg {stored.get('unetseg', 'before 0.1')}, whose "
                "configuration this version cannot read; start the run in a new work directory."
            )
        config = TrainerConfig.from_dict(stored["trainer"], where=str(path)).replace(**overrides)
        if "keras_model" in stored["model"]:
            model: Any = keras.saving.load_model(Path(work_dir) / "last.keras")
        else:
            model = UNetConfig.from_dict(stored["model"])
        deserialize = keras.saving.deserialize_keras_object
        given = stored.get("instances", [])  # the rest is built from the configuration
        trainer = cls(
            model,
            config,
            work_dir=work_dir,
            loss=deserialize(stored["loss"]) if "loss" in given else None,
            optimizer=deserialize(stored["optimizer"]) if "optimizer" in given else None,
            metrics=[deserialize(m) for m in stored["metrics"]] if "metrics" in given else None,
            devices=devices,
            verbose=verbose,
        )
        history = trainer.fit(
            train_data,
            val_data,
            epochs=epochs or stored["epochs"],
            steps_per_epoch=stored["steps_per_epoch"],
            force=bool(overrides) or epochs is not None,
        )
        return trainer, history


def _diverged(diverged: tuple[int, int, float], work_dir: Path) -> TrainingError:
    epoch, batch, loss = diverged
    where = f"batch {batch + 1} of epoch {epoch + 1}" if batch >= 0 else f"epoch {epoch + 1}"
    kept = f"{work_dir / 'last.keras'} holds epoch {epoch}" if epoch else "no epoch completed"
    return TrainingError(
        f"The training loss became {loss} at {where}; training stopped and {kept}. "
        "Lower the learning rate, use clipnorm, or check the data for NaN/inf values."
    )
