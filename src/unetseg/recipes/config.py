"""A recipe's configuration: a tree of typed sections, checked once, as it is read.

A recipe file is TOML with the sections below; every setting has a default, so a
file sets only what differs. :func:`load_config` reads a file and applies
``section.key=value`` overrides (the command line's ``--set``);
:meth:`RecipeConfig.to_dict` / :meth:`RecipeConfig.from_dict` round-trip it through
JSON (a run's ``recipe.json``) and :meth:`RecipeConfig.to_toml` writes it back as a
recipe file.

===============  =============================================================
section          what
===============  =============================================================
``[recipe]``     name, seed, description
``[data]``       the BraTS folder or generated cases, the split, 2D slicing
``[model]``      the network (a preset with overrides, or a full configuration)
                 and the task (what its outputs mean)
``[train]``      loss, optimiser, schedule, epochs, patches, precision, validation
``[augment]``    flips and intensity augmentation of the training patches
``[inference]``  the sliding window, test-time flips, small-ET suppression
``[report]``     how many overlays to draw
===============  =============================================================

Checks that need several sections happen in :class:`RecipeConfig`: the patch and
window sizes against the network's stride and dimension, the network's channels
against the task and the modalities, the split against the generated cases.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tomllib
from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, ClassVar

from unetseg.config import ConfigSection
from unetseg.errors import ConfigError, UnknownNameError
from unetseg.inference.sliding_window import BLENDINGS
from unetseg.networks import NETWORKS, UNetConfig
from unetseg.task import Task, resolve_task
from unetseg.training import TrainerConfig

__all__ = [
    "AugmentSection",
    "DataSection",
    "InferenceSection",
    "ModelSection",
    "RecipeConfig",
    "RecipeSection",
    "ReportSection",
    "TrainSection",
    "apply_overrides",
    "load_config",
]

#: The number of MRI modalities of a BraTS case (FLAIR, T1, T1ce, T2).
BRATS_MODALITIES = 4


@dataclasses.dataclass(frozen=True)
class RecipeSection(ConfigSection):
    """``[recipe]``: the run's name (its default work directory), seed and description.

    Args:
        name: The run's name: a folder name, the default work directory, and the title
            of the training curves.
        seed: The seed of the split, the generated cases, the augmentation and training.
        description: Free text saying what the recipe is for.
    """

    prefix: ClassVar[str] = "recipe"
    name: str = "unnamed"
    seed: int = 0
    description: str = ""

    def __post_init__(self) -> None:
        self.check(
            bool(self.name.strip()) and os.sep not in self.name and self.name not in (".", ".."),
            "name",
            "must be a folder name (not empty, '.' or '..', without a path separator)",
        )


@dataclasses.dataclass(frozen=True)
class DataSection(ConfigSection):
    """``[data]``: where the cases come from and how they are split.

    Args:
        path: A BraTS training folder, or an nnU-Net raw or Decathlon dataset (a folder
            with ``dataset.json``); ``None`` (left out): generated cases.
        synthetic_cases: How many cases to generate without a ``path`` (0: the recipe
            needs real data).
        synthetic_shape: The generated volumes' shape.
        test_cases: Cases held out for the final evaluation; 0 for cross-validation
            (``fold`` of ``folds``: the held-out fold is validated and evaluated).
        val_cases: Cases validated during training (with ``test_cases > 0``).
        folds: The number of cross-validation folds.
        fold: The fold trained (0 … ``folds`` − 1).
        modalities: 2D recipes: the channels kept (0 FLAIR, 1 T1, 2 T1ce, 3 T2).
        slice_range: 2D recipes: the axial slices used, ``[start, stop)``.
        spacing: 3D recipes: resample every case to this voxel size in mm before
            training and prediction (nnU-Net's low-resolution plan); predictions are
            brought back to each case's own grid. Left out: each case's own grid.
        allow_constant_channels: Train on and predict cases with a constant image
            channel (an empty or blank modality); by default such a case is refused
            with an error naming it and the file
            (:class:`~unetseg.transforms.CheckNonConstantd`).
        image_channels: The number of image channels when they are not BraTS's four
            (set from an nnU-Net or Decathlon dataset's ``dataset.json``).
    """

    prefix: ClassVar[str] = "data"
    path: str | None = None
    synthetic_cases: int = 12
    synthetic_shape: tuple[int, int, int] = (96, 96, 64)
    test_cases: int = 3
    val_cases: int = 1
    folds: int = 5
    fold: int = 0
    modalities: tuple[int, ...] | None = None
    slice_range: tuple[int, int] | None = None
    spacing: tuple[float, float, float] | None = None
    allow_constant_channels: bool = False
    image_channels: int | None = None

    def __post_init__(self) -> None:
        if self.path is not None and not self.path.strip():
            object.__setattr__(self, "path", None)
        self.check(self.synthetic_cases >= 0, "synthetic_cases", "must be >= 0")
        self.check(min(self.synthetic_shape) >= 1, "synthetic_shape", "must be positive sizes")
        self.check(self.test_cases >= 0, "test_cases", "must be >= 0 (0: cross-validation)")
        self.check(
            self.val_cases >= 1 or self.test_cases == 0,
            "val_cases",
            "must be >= 1: training validates on them and keeps the best epoch",
        )
        self.check(self.folds >= 2, "folds", "must be >= 2")
        self.check(0 <= self.fold < self.folds, "fold", f"must be in 0–{self.folds - 1}")
        if self.modalities is not None:
            self.check(
                bool(self.modalities)
                and len(set(self.modalities)) == len(self.modalities)
                and all(0 <= m < BRATS_MODALITIES for m in self.modalities),
                "modalities",
                f"must be different channels among 0–{BRATS_MODALITIES - 1}",
            )
        if self.spacing is not None:
            self.check(min(self.spacing) > 0, "spacing", "must be three voxel sizes > 0 (mm)")
        if self.image_channels is not None:
            self.check(self.image_channels >= 1, "image_channels", "must be >= 1")
        if self.slice_range is not None:
            start, stop = self.slice_range
            self.check(
                0 <= start < stop, "slice_range", "must be [start, stop) with 0 <= start < stop"
            )

    @property
    def channels(self) -> int:
        """The number of image channels the network sees."""
        if self.modalities is not None:
            return len(self.modalities)
        return self.image_channels if self.image_channels is not None else BRATS_MODALITIES


@dataclasses.dataclass(frozen=True)
class ModelSection(ConfigSection):
    """``[model]``: the network and what its outputs mean.

    Args:
        preset: A name in :data:`~unetseg.registries.NETWORKS`; its fields can be
            changed with ``config``.
        config: :class:`~unetseg.networks.UNetConfig` fields: overrides of the preset,
            or the whole network without a preset.
        task: What the outputs mean, a name in :data:`~unetseg.registries.TASKS`:
            ``"brats_regions"`` (WT/TC/ET, sigmoid) or ``"brats_classes"`` (softmax); or
            a task table (:meth:`~unetseg.task.Task.to_dict`), as a run on an nnU-Net or
            Decathlon dataset stores the task of its ``dataset.json``.
    """

    prefix: ClassVar[str] = "model"
    preset: str | None = None
    config: dict[str, Any] = dataclasses.field(default_factory=dict)
    task: str | dict[str, Any] = "brats_regions"

    def __post_init__(self) -> None:
        if self.preset is not None and not self.preset.strip():
            object.__setattr__(self, "preset", None)
        resolve_task(self.task)

    def build(self) -> UNetConfig:
        """The network's configuration (checked).

        Raises:
            ConfigError: For an unknown preset or field, or an invalid value.
        """
        settings = dict(self.config)
        if self.preset is not None:
            try:
                preset = NETWORKS.get(self.preset)
            except UnknownNameError as error:
                raise UnknownNameError(f"model.preset: {error}") from error
        try:
            return preset(**settings) if self.preset is not None else UNetConfig(**settings)
        except TypeError as error:  # an unknown field
            raise ConfigError(f"model.config: {error}.") from error
        except ConfigError as error:
            raise type(error)(f"model.config: {error}") from error


@dataclasses.dataclass(frozen=True)
class TrainSection(ConfigSection):
    """``[train]``: how the network is trained (see :class:`~unetseg.training.TrainerConfig`).

    Args:
        loss: A name in :data:`~unetseg.registries.LOSSES`.
        loss_options: Keyword arguments of the loss, e.g. ``{batch = true}``.
        optimizer: ``"sgd"``, ``"adamw"``, ``"adam"`` (or a plugin's name).
        learning_rate: The initial (peak) learning rate.
        schedule: ``"poly"``, ``"cosine"`` or ``"constant"``.
        warmup_epochs: Epochs of linear warm-up (``"cosine"``), fewer than ``epochs``.
        epochs: Epochs in all.
        steps_per_epoch: Batches per epoch (3D; a 2D epoch is one pass over the slices).
        batch_size: Patches (or slices) per batch.
        patch_size: The training patch (3D) or slice size (2D); a multiple of the
            network's total stride on every axis.
        foreground_ratio: The share of patches centred on tumour (3D).
        workers: Processes or threads preparing batches.
        precision: ``"float32"``, ``"mixed_float16"`` or ``"mixed_bfloat16"``.
        val_every: Validate on whole volumes every this many epochs.
        patience: Stop after this many validations without improvement; left out
            (``none``) for never.
        distribute: Left out (``none``) for one device, ``"data_parallel"`` for this
            machine's devices, ``"multi_worker"`` for several processes or machines
            (JAX, 3D recipes; every worker runs the same command, see the Training
            guide).
    """

    prefix: ClassVar[str] = "train"
    loss: str = "dice_ce"
    loss_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    optimizer: str = "sgd"
    learning_rate: float = 1e-2
    schedule: str = "poly"
    warmup_epochs: int = 0
    epochs: int = 1000
    steps_per_epoch: int = 250
    batch_size: int = 2
    patch_size: tuple[int, ...] = (128, 128, 128)
    foreground_ratio: float = 0.33
    workers: int = 2
    precision: str = "float32"
    val_every: int = 10
    patience: int | None = None
    distribute: str | None = None

    def __post_init__(self) -> None:
        self.check(self.epochs >= 1, "epochs", "must be >= 1")
        self.check(
            self.distribute in (None, "data_parallel", "multi_worker"),
            "distribute",
            "must be none, 'data_parallel' or 'multi_worker'",
        )
        self.check(self.steps_per_epoch >= 1, "steps_per_epoch", "must be >= 1")
        self.check(self.batch_size >= 1, "batch_size", "must be >= 1")
        self.check(
            len(self.patch_size) in (2, 3) and min(self.patch_size) >= 1,
            "patch_size",
            "must be 2 (2D) or 3 (3D) positive sizes",
        )
        self.check(0.0 <= self.foreground_ratio <= 1.0, "foreground_ratio", "must be in [0, 1]")
        self.check(self.workers >= 1, "workers", "must be >= 1")
        self.check(
            self.warmup_epochs < self.epochs,
            "warmup_epochs",
            f"must be fewer than the epochs ({self.epochs})",
        )


@dataclasses.dataclass(frozen=True)
class AugmentSection(ConfigSection):
    """``[augment]``: random flips (every axis together) and intensity scale and shift.

    Args:
        flip: Flip a training patch's image and label along every axis together, with
            probability 0.5.
        intensity: Multiply the image by ``1 + f`` (``f`` in ±0.1) and add an offset in
            ±0.1, each with probability 0.5.
    """

    prefix: ClassVar[str] = "augment"
    flip: bool = True
    intensity: bool = True


@dataclasses.dataclass(frozen=True)
class InferenceSection(ConfigSection):
    """``[inference]``: how held-out and new cases are predicted.

    Args:
        roi_size: The sliding window; left out (``none``) for the training patch
            size, which networks with instance normalisation need.
        overlap: Overlap of neighbouring windows, in [0, 1).
        batch_size: Windows per model call.
        tta: Also predict every mirrored window and average.
        blending: Where windows are cut and blended: ``"auto"`` (on the GPU when the
            backend sees one), ``"numpy"`` (the host) or ``"device"`` (the backend's
            device); the same result either way (``SlidingWindowInferer``'s option).
        min_enhancing_voxels: Relabel all enhancing tumour of a case with fewer
            voxels as necrosis (BraTS tasks); 0 keeps it. Used as given when
            ``choose_postprocessing`` is false; otherwise the prior that the
            validation cases change only if another threshold scores better.
        choose_postprocessing: Choose the post-processing on the validation cases
            after training (the largest component per region, the enhancing-tumour
            threshold; see ``unetseg.recipes.postprocessing``), as nnU-Net does.
    """

    prefix: ClassVar[str] = "inference"
    roi_size: tuple[int, ...] | None = None
    overlap: float = 0.5
    batch_size: int = 2
    tta: bool = False
    blending: str = "auto"
    min_enhancing_voxels: int = 0
    choose_postprocessing: bool = True

    def __post_init__(self) -> None:
        if self.roi_size is not None:
            self.check(
                len(self.roi_size) in (2, 3) and min(self.roi_size) >= 1,
                "roi_size",
                "must be 2 or 3 positive sizes",
            )
        self.check(0.0 <= self.overlap < 1.0, "overlap", "must be in [0, 1)")
        self.check(self.batch_size >= 1, "batch_size", "must be >= 1")
        self.check(self.blending in BLENDINGS, "blending", f"must be one of {BLENDINGS}")
        self.check(self.min_enhancing_voxels >= 0, "min_enhancing_voxels", "must be >= 0")


@dataclasses.dataclass(frozen=True)
class ReportSection(ConfigSection):
    """``[report]``: how many held-out cases get an overlay picture (the worst by
    mean Dice first).

    Args:
        overlays: The number of held-out cases drawn as overlays, the worst first (0: none).
    """

    prefix: ClassVar[str] = "report"
    overlays: int = 3

    def __post_init__(self) -> None:
        self.check(self.overlays >= 0, "overlays", "must be >= 0")


@dataclasses.dataclass(frozen=True)
class RecipeConfig(ConfigSection):
    """A whole recipe: one typed section per TOML table, checked together.

    Args:
        recipe: ``[recipe]``: the name, seed and description (:class:`RecipeSection`).
        data: ``[data]``: the cases and their split (:class:`DataSection`).
        model: ``[model]``: the network and the task (:class:`ModelSection`).
        train: ``[train]``: how the network is trained (:class:`TrainSection`).
        augment: ``[augment]``: the augmentation of training patches
            (:class:`AugmentSection`).
        inference: ``[inference]``: how cases are predicted (:class:`InferenceSection`).
        report: ``[report]``: the overlays drawn (:class:`ReportSection`).

    Raises:
        ConfigError: For an unknown section or setting, a wrong type, a value out of
            range, or sections that contradict each other; the message names the
            setting (``train.patch_size``) and what it expected.

    Example:
        >>> config = RecipeConfig.from_dict({"model": {"preset": "nnunet_3d"}})
        >>> config.train.patch_size, config.window, config.task.name
        ((128, 128, 128), (128, 128, 128), 'brats_regions')
        >>> config.replace(train={"patch_size": [100, 100, 100]})
        Traceback (most recent call last):
        ...
        unetseg.errors.ConfigError: train.patch_size must be a multiple of the network's ...
    """

    recipe: RecipeSection = dataclasses.field(default_factory=RecipeSection)
    data: DataSection = dataclasses.field(default_factory=DataSection)
    model: ModelSection = dataclasses.field(default_factory=ModelSection)
    train: TrainSection = dataclasses.field(default_factory=TrainSection)
    augment: AugmentSection = dataclasses.field(default_factory=AugmentSection)
    inference: InferenceSection = dataclasses.field(default_factory=InferenceSection)
    report: ReportSection = dataclasses.field(default_factory=ReportSection)

    def __post_init__(self) -> None:
        network = self.network
        task = self.task
        dims = network.spatial_dims
        self._check_sizes(network)
        if network.out_channels != task.out_channels:
            raise ConfigError(
                f"model: the network has {network.out_channels} output channels but the task "
                f"{task.name!r} needs {task.out_channels} ({', '.join(task.channel_names)})."
            )
        if network.in_channels != self.data.channels:
            raise ConfigError(
                f"model: the network takes {network.in_channels} input channels but the data "
                f"gives {self.data.channels} (data.modalities "
                f"{list(self.data.modalities) if self.data.modalities else 'all four'})."
            )
        if network.output_activation not in (None, task.activation):
            raise ConfigError(
                f"model: the network ends in a {network.output_activation} but the task "
                f"{task.name!r} is {task.kind} ({task.activation})."
            )
        if dims == 2 and self.train.distribute == "multi_worker":
            raise ConfigError(
                "train.distribute = 'multi_worker' is for 3D recipes (their patch batches "
                "are drawn per worker); train a 2D recipe on one machine."
            )
        if dims == 2 and self.data.slice_range is None:
            raise ConfigError("data.slice_range = [start, stop] is needed by a 2D network.")
        if dims == 3 and (self.data.slice_range is not None or self.data.modalities is not None):
            raise ConfigError(
                "data.slice_range and data.modalities are for 2D networks; a 3D network uses "
                "every modality of the whole volume."
            )
        if dims == 2 and self.data.spacing is not None:
            raise ConfigError(
                "data.spacing is for 3D networks; a 2D network resizes its slices "
                "(train.patch_size)."
            )
        if self.data.path is None and self.data.synthetic_cases and self.data.test_cases:
            needed = self.data.test_cases + self.data.val_cases + 1
            if self.data.synthetic_cases < needed:
                raise ConfigError(
                    f"data.synthetic_cases ({self.data.synthetic_cases}) must be at least "
                    f"{needed}: {self.data.test_cases} test, {self.data.val_cases} validation "
                    "and one training case."
                )
        self.trainer_config()  # names of the loss, optimiser, schedule; precision

    def _check_sizes(self, network: UNetConfig) -> None:
        dims, strides = network.spatial_dims, network.total_strides
        for section, field, size in (
            ("train", "patch_size", self.train.patch_size),
            ("inference", "roi_size", self.inference.roi_size),
        ):
            if size is None:
                continue
            if len(size) != dims:
                raise ConfigError(
                    f"{section}.{field} must have {dims} sizes for a {dims}D network, got "
                    f"{list(size)}."
                )
            if any(s % k for s, k in zip(size, strides, strict=True)):
                raise ConfigError(
                    f"{section}.{field} must be a multiple of the network's total stride "
                    f"{strides} on every axis, got {tuple(size)}."
                )
            fixed = network.input_size
            if fixed is not None and any(
                f is not None and f != s for f, s in zip(fixed, size, strict=True)
            ):
                raise ConfigError(
                    f"{section}.{field} {list(size)} differs from the network's fixed "
                    f"input_size {list(fixed)}."
                )

    def for_dataset(self, task: Task, image_channels: int) -> RecipeConfig:
        """This recipe for a dataset that describes itself: its task (stored as a table in
        ``model.task``) and its number of image channels, with the network's input and
        output channels to match.

        Args:
            task: The dataset's task (the ``task`` of a
                :class:`~unetseg.data.DatasetDescription`).
            image_channels: Its number of image channels.

        Raises:
            ConfigError: If the recipe cannot take that task (2D recipes keep BraTS's
                modalities), naming the setting.
        """
        if self.spatial_dims == 2:
            raise ConfigError(
                "The 2D recipes read BraTS folders; train a 3D recipe on an nnU-Net or "
                "Decathlon dataset."
            )
        network = {**self.model.config, "in_channels": image_channels}
        network["out_channels"] = task.out_channels
        stored = {k: v for k, v in task.to_dict().items() if v is not None}  # TOML-writable
        return self.replace(
            model={"task": stored, "config": network},
            data={"image_channels": image_channels},
        )

    # -- what derives from it ----------------------------------------------------------

    @cached_property
    def network(self) -> UNetConfig:
        """The network's configuration (:meth:`ModelSection.build`)."""
        return self.model.build()

    @property
    def task(self) -> Task:
        """What the network's outputs mean."""
        return resolve_task(self.model.task)

    @property
    def spatial_dims(self) -> int:
        """2 or 3."""
        return self.network.spatial_dims

    @property
    def window(self) -> tuple[int, ...]:
        """The inference window, ``inference.roi_size``, else the training patch size."""
        return tuple(self.inference.roi_size or self.train.patch_size)

    def trainer_config(self) -> TrainerConfig:
        """The :class:`~unetseg.training.TrainerConfig` of ``[train]`` and the task.

        Raises:
            ConfigError: Naming the ``train.`` setting that is wrong.
        """
        try:
            return self._trainer_config()
        except ConfigError as error:
            raise type(error)(_in_train_section(str(error))) from error

    def _trainer_config(self) -> TrainerConfig:
        train = self.train
        return TrainerConfig(
            task=self.task,
            loss=train.loss,
            loss_options=train.loss_options,
            optimizer=train.optimizer,
            metrics=("dice",),
            learning_rate=train.learning_rate,
            schedule=train.schedule,
            warmup_epochs=train.warmup_epochs,
            precision=train.precision,
            seed=self.recipe.seed,
            val_roi_size=self.window,
            val_overlap=self.inference.overlap,  # validation predicts as inference does
            val_blending=self.inference.blending,
            val_every=train.val_every,
            patience=train.patience,
            distribute=train.distribute,
        )

    # -- TOML ---------------------------------------------------------------------------

    @classmethod
    def from_toml(cls, text: str, *, where: str = "") -> RecipeConfig:
        """Read a recipe from TOML text.

        Raises:
            ConfigError: If the text is not valid TOML or the recipe is wrong.
        """
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise ConfigError(f"{where or 'The recipe'} is not valid TOML: {error}.") from error
        return cls.from_dict(_tables(raw, where), where=where)

    def to_toml(self) -> str:
        """The recipe as a TOML file (optional settings that are unset are left out).

        Raises:
            ConfigError: For a ``None`` inside a table (``model.config``), which TOML
                cannot write.

        Example:
            >>> text = RecipeConfig().to_toml()
            >>> RecipeConfig.from_toml(text) == RecipeConfig()
            True
        """
        lines: list[str] = []
        for section, values in self.to_dict().items():
            lines.append(f"[{section}]")
            lines += [
                f"{key} = {_toml_value(value, f'{section}.{key}')}"
                for key, value in values.items()
                if value is not None
            ]
            lines.append("")
        return "\n".join(lines)


def _in_train_section(message: str) -> str:
    """A TrainerConfig message, told as the recipe's ``[train]`` setting it is about."""
    fields = {f.name for f in dataclasses.fields(TrainSection)}
    first = message.split(" ", 1)[0]
    if first in fields:
        return f"train.{message}"
    unknown = re.match(r"Unknown (\w+) '", message)
    if unknown and unknown.group(1) in fields:
        return f"train.{unknown.group(1)}: {message}"
    return f"[train]: {message}"


def _tables(raw: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Check that the top level holds only known sections, each a table."""
    sections = [f.name for f in dataclasses.fields(RecipeConfig)]
    prefix = f"{where}: " if where else ""
    for name, value in raw.items():
        if name not in sections:
            raise ConfigError(
                f"{prefix}unknown section [{name}]; the sections are {', '.join(sections)}."
            )
        if not isinstance(value, Mapping):
            raise ConfigError(f"{prefix}[{name}] must be a table of settings.")
    return dict(raw)


_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


def _toml_key(key: Any) -> str:
    key = str(key)
    return key if _BARE_KEY.fullmatch(key) else json.dumps(key)


def _toml_value(value: Any, name: str) -> str:
    """``value`` in TOML syntax; ``name`` says where, for the error about ``None``."""
    if value is None:
        raise ConfigError(
            f"{name} is None, which TOML cannot write; leave the setting out instead."
        )
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a valid TOML basic string
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v, f"{name}[{i}]") for i, v in enumerate(value)) + "]"
    if isinstance(value, Mapping):
        items = (f"{_toml_key(k)} = {_toml_value(v, f'{name}.{k}')}" for k, v in value.items())
        return "{" + ", ".join(items) + "}"
    raise ConfigError(f"Cannot write {name} = {value!r} to TOML.")


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> RecipeConfig:
    """Read a recipe file (TOML) and apply ``section.key=value`` overrides.

    Args:
        path: The recipe file (TOML).
        overrides: ``section.key=value`` settings applied after reading (see
            :func:`apply_overrides`).

    Raises:
        ConfigError: If the file is missing or not valid TOML, or a section, key or
            value is wrong (the message names the file and the setting).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Recipe file {path} does not exist.")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"Cannot read recipe file {path}: {error}.") from error
    config = RecipeConfig.from_toml(text, where=str(path))
    return apply_overrides(config, overrides)


def apply_overrides(config: RecipeConfig, overrides: Sequence[str]) -> RecipeConfig:
    """Apply ``section.key=value`` settings (values in TOML syntax; bare words are text).

    Args:
        config: The recipe to change (it is not modified; a new one is returned).
        overrides: Settings such as ``"train.epochs=3"``, applied in order.

    Example:
        >>> apply_overrides(RecipeConfig(), ["train.epochs=3"]).train.epochs
        3
    """
    if not overrides:
        return config
    raw = config.to_dict()
    for override in overrides:
        name, separator, text = override.partition("=")
        section, dot, key = name.strip().partition(".")
        if not separator or not dot or not key.strip():
            raise ConfigError(f"Override {override!r} must look like section.key=value.")
        try:
            value = tomllib.loads(f"value = {text.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        if section not in raw:
            _tables({section: {}}, "overrides")
        raw[section][key.strip()] = value
    return RecipeConfig.from_dict(raw, where="overrides")
