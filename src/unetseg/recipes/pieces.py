"""The pieces a recipe is made of, each from the configuration section it needs.

The data (:func:`find_or_generate`, :func:`split_cases`), the per-case preprocessing
(:func:`preprocessing` for 3D volumes, :func:`slice_preprocessing` for 2D slices,
:func:`case_preprocessing` choosing between them), the training data
(:func:`training_data`: cached 3D patches or 2D slices), the training
(:func:`build_trainer`) and the prediction (:func:`build_predictor`, one path for 2D
and 3D through :class:`~unetseg.inference.Predictor`). ``unetseg.recipes.run``
puts them together; the command line's ``predict`` reuses :func:`build_predictor`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import keras
import numpy as np

from unetseg.data import (
    DatasetDescription,
    PatchDataset,
    PreprocessedCache,
    find_brats_cases,
    find_dataset,
    kfold_splits,
    write_synthetic_brats,
)
from unetseg.data.slices import SliceDataset, VolumeSlicesd
from unetseg.errors import ConfigError, in_case
from unetseg.fileio import write_json
from unetseg.inference import (
    BratsPostprocess,
    Ensemble,
    LabelMapPostprocess,
    Predictor,
    SlidingWindowInferer,
    is_brats_task,
    load_model,
)
from unetseg.networks import NORMS, output_activation
from unetseg.recipes.config import AugmentSection, DataSection, RecipeConfig
from unetseg.recipes.postprocessing import PostprocessingChoice
from unetseg.task import BRATS_REGIONS, Task, resolve_task
from unetseg.training import Trainer
from unetseg.transforms import (
    CheckNonConstantd,
    Compose,
    CropForegroundd,
    EncodeLabelsd,
    FromLabelConventiond,
    LoadImaged,
    NormalizeIntensityd,
    RandFlipd,
    RandScaleIntensityd,
    RandShiftIntensityd,
    Spacingd,
)

__all__ = [
    "augmentation",
    "build_predictor",
    "build_trainer",
    "case_preprocessing",
    "check_model_fits",
    "find_or_generate",
    "preprocessing",
    "slice_preprocessing",
    "split_cases",
    "training_data",
    "window_size_warning",
]

Record = dict[str, Any]

#: Normalisations whose statistics come from the whole input window.
_WINDOW_STATISTICS_NORMS = ("instance", "group", "layer")


# -- the cases ------------------------------------------------------------------------


def find_or_generate(
    data: DataSection,
    *,
    seed: int,
    recipe_name: str,
    work_dir: Path,
    path: str | os.PathLike[str] | None = None,
) -> list[Record]:
    """The BraTS cases at ``path`` (or ``data.path``), else generated ones in ``work_dir/data``.

    Generated cases are written once; a marker file remembers how many, of which
    shape and seed, so a rerun reuses them.

    Args:
        data: The ``[data]`` section: its ``path``, or how many cases of which shape to
            generate.
        seed: The seed of the generated cases.
        recipe_name: The recipe's name, for the error when it needs real data.
        work_dir: The run's folder; generated cases are written to ``work_dir/data``.
        path: A BraTS training folder that takes the place of ``data.path``.

    Raises:
        ConfigError: If the recipe needs real data and none was given.
        DataError: If the folder holds no BraTS cases (see ``find_brats_cases``).
    """
    folder = path or data.path
    if folder:
        return find_cases(folder, require_labels=True)
    if data.synthetic_cases < 1:
        raise ConfigError(
            f"The recipe {recipe_name!r} trains on real data: pass --data PATH (a "
            "MICCAI_BraTS2020_TrainingData folder) or set data.path."
        )
    generated = work_dir / "data"
    shape = tuple(data.synthetic_shape)
    marker = generated / ".complete.json"
    wanted = {"cases": data.synthetic_cases, "shape": list(shape), "seed": seed}
    if not (marker.is_file() and json.loads(marker.read_text()) == wanted):
        print(
            f"Generating {data.synthetic_cases} BraTS-like cases of {shape} voxels in {generated}"
        )
        write_synthetic_brats(
            generated, data.synthetic_cases, shape=shape, seed=seed, progress=False
        )
        write_json(marker, wanted)
    return find_brats_cases(generated, require_labels=True)


def find_cases(path: str | os.PathLike[str], *, require_labels: bool | None) -> list[Record]:
    """The cases of a BraTS folder, or of an nnU-Net raw or Decathlon dataset (a folder
    with ``dataset.json``: its training cases, then its ``imagesTs`` ones unless labels
    are required).

    Args:
        path: The folder.
        require_labels: As for :func:`~unetseg.data.find_brats_cases`.

    Raises:
        DataError: If the folder holds no such cases (see the two readers).
    """
    description = describe_dataset(path, require_labels=require_labels)
    if description is None:
        return find_brats_cases(path, require_labels=require_labels)
    if require_labels:
        return description.records
    return description.records + description.test_records


def describe_dataset(
    path: str | os.PathLike[str] | None, *, require_labels: bool | None = True
) -> DatasetDescription | None:
    """The :class:`~unetseg.data.DatasetDescription` of an nnU-Net raw or Decathlon
    folder (one with ``dataset.json``), or ``None`` for any other folder or none.

    Args:
        path: The folder, or ``None``.
        require_labels: As for :func:`~unetseg.data.find_dataset`.
    """
    if path is None or not (Path(path) / "dataset.json").is_file():
        return None
    return find_dataset(path, require_labels=require_labels)


def split_cases(
    records: Sequence[Record], data: DataSection, seed: int
) -> tuple[list[Record], list[Record], list[Record]]:
    """Train, validation and test records.

    With ``data.test_cases > 0`` that many cases are held out for the final evaluation
    and ``data.val_cases`` more for validation during training. With
    ``data.test_cases = 0`` the split is fold ``data.fold`` of ``data.folds``
    (cross-validation): the held-out fold is both validated and evaluated.

    Args:
        records: The cases, each a record with an ``"id"``, in any order.
        data: The ``[data]`` section: the test and validation cases, or the folds.
        seed: The seed of the random split.

    Raises:
        ConfigError: If there are too few cases for the split.
    """
    by_id = {r["id"]: r for r in records}
    ids = sorted(by_id)
    if data.test_cases > 0:
        needed = data.test_cases + data.val_cases + 1
        if len(ids) < needed:
            raise ConfigError(
                f"The recipe holds out {data.test_cases} test and {data.val_cases} "
                f"validation cases but the data has only {len(ids)} cases."
            )
        order = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
        test = sorted(order[: data.test_cases])
        val = sorted(order[data.test_cases : data.test_cases + data.val_cases])
        train = sorted(order[data.test_cases + data.val_cases :])
    else:
        if len(ids) < data.folds:
            raise ConfigError(
                f"{data.folds}-fold cross-validation needs at least {data.folds} cases; the "
                f"data has {len(ids)}."
            )
        train, val = kfold_splits(ids, data.folds, seed=seed)[data.fold]
        test = val
    return [by_id[i] for i in train], [by_id[i] for i in val], [by_id[i] for i in test]


# -- preprocessing and augmentation ---------------------------------------------------


def preprocessing(
    with_label: bool = True,
    task: Task | str = BRATS_REGIONS,
    spacing: Sequence[float] | None = None,
    allow_constant_channels: bool = False,
) -> Compose:
    """The deterministic preprocessing of 3D training and prediction: load the four
    modalities (and the label), refuse a constant modality (unless
    ``allow_constant_channels``), resample them to ``spacing`` if given (linear for the
    image, nearest for the label), encode the label for ``task``, z-score each modality
    over the brain, crop to the brain.

    Args:
        with_label: Also load and prepare the label (training); ``False`` for prediction.
        task: The task (or its name) whose targets the label is encoded into.
        spacing: The voxel size in mm to resample to; ``None`` keeps each case's grid.
        allow_constant_channels: Let an image with a constant channel through instead of
            refusing it.
    """
    keys = ["image", "label"] if with_label else ["image"]
    steps: list[Any] = [
        LoadImaged(keys),
        CheckNonConstantd("image", allow=allow_constant_channels),
    ]
    if with_label:  # BraTS 2023 labels (enhancing tumour 3) become the 2020 labels
        steps.append(FromLabelConventiond("label"))
    if spacing is not None:
        modes = ["bilinear", "nearest"][: len(keys)]
        steps.append(Spacingd(keys, pixdim=tuple(spacing), mode=modes))
    if with_label:
        steps.append(EncodeLabelsd("label", task=task))
    steps += [
        NormalizeIntensityd("image", nonzero=True, channel_wise=True),
        CropForegroundd(keys, source_key="image", margin=2),
    ]
    return Compose(steps)


def slice_preprocessing(config: RecipeConfig, with_label: bool = True) -> Compose:
    """The preprocessing of a 2D recipe: load, then the notebook's axial slices
    (``data.slice_range``, ``data.modalities``, resized to ``train.patch_size``).

    Args:
        config: The recipe (a 2D one, with ``data.slice_range``).
        with_label: Also load and slice the label (training); ``False`` for prediction.
    """
    data = config.data
    assert data.slice_range is not None  # RecipeConfig checks it for 2D networks
    keys = ["image", "label"] if with_label else ["image"]
    return Compose(
        [
            LoadImaged(keys),
            CheckNonConstantd("image", allow=data.allow_constant_channels),
            *([FromLabelConventiond("label")] if with_label else []),
            VolumeSlicesd(
                keys,
                slice_range=data.slice_range,
                size=config.train.patch_size,
                channels=data.modalities,
                task=config.task,
            ),
        ]
    )


def case_preprocessing(config: RecipeConfig, with_label: bool = True) -> Compose:
    """:func:`slice_preprocessing` for a 2D network, :func:`preprocessing` for a 3D one.

    Args:
        config: The recipe; its network's dimension chooses the preprocessing.
        with_label: Also load and prepare the label (training); ``False`` for prediction.
    """
    if config.spatial_dims == 2:
        return slice_preprocessing(config, with_label)
    return preprocessing(
        with_label, config.task, config.data.spacing, config.data.allow_constant_channels
    )


def augmentation(augment: AugmentSection, seed: int) -> Compose | None:
    """The random augmentation of training patches (flips; intensity scale and shift).

    Args:
        augment: The ``[augment]`` section: which augmentations are on.
        seed: The seed of the random steps.
    """
    steps: list[Any] = []
    if augment.flip:
        steps.append(RandFlipd(["image", "label"], prob=0.5))
    if augment.intensity:
        steps += [
            RandScaleIntensityd("image", factors=0.1, prob=0.5),
            RandShiftIntensityd("image", offsets=0.1, prob=0.5),
        ]
    return Compose(steps, seed=seed) if steps else None


# -- training -------------------------------------------------------------------------


def training_data(
    config: RecipeConfig, train: Sequence[Record], val: Sequence[Record], work_dir: Path
) -> tuple[keras.utils.PyDataset, list[Any]]:
    """The training batches and the validation cases of a recipe.

    3D: the cases are preprocessed once into ``work_dir/cache`` and random patches
    drawn from it (:class:`~unetseg.data.PatchDataset`); 2D: the slices of every
    training case (:class:`~unetseg.data.slices.SliceDataset`).

    Args:
        config: The recipe.
        train: The records of the training cases.
        val: The records of the validation cases.
        work_dir: The run's folder; 3D cases are cached in ``work_dir/cache``.
    """
    seed, settings = config.recipe.seed, config.train
    if config.spatial_dims == 2:
        prepare = slice_preprocessing(config)
        prepared = _prepare_each(prepare, train)
        images = np.concatenate([p["image"] for p in prepared])
        targets = np.concatenate([p["label"] for p in prepared])
        print(f"{len(images)} training slices of {images.shape[1:]}")
        validation = [(p["image"], p["label"]) for p in _prepare_each(prepare, val)]
        return SliceDataset(images, targets, batch_size=settings.batch_size, seed=seed), validation
    cache = PreprocessedCache(work_dir / "cache", case_preprocessing(config), seed=seed)
    cases = {c.id: c for c in cache.build([*train, *val], progress=False)}
    patches = PatchDataset(
        [cases[r["id"]] for r in train],
        settings.patch_size,
        batch_size=settings.batch_size,
        steps_per_epoch=settings.steps_per_epoch,
        foreground_ratio=settings.foreground_ratio,
        augment=augmentation(config.augment, seed),
        seed=seed,
        workers=settings.workers,
    )
    return patches, [cases[r["id"]] for r in val]


def _prepare_each(prepare: Compose, records: Sequence[Record]) -> list[Record]:
    prepared = []
    for record in records:
        with in_case(record["id"]):
            prepared.append(prepare(dict(record)))
    return prepared


def build_trainer(config: RecipeConfig, work_dir: Path) -> Trainer:
    """The :class:`~unetseg.training.Trainer` of the recipe's network, task and ``[train]``.

    Args:
        config: The recipe.
        work_dir: The run's folder, where the trainer keeps its models and history.
    """
    return Trainer(config.network, config.trainer_config(), work_dir=work_dir, verbose=2)


# -- prediction -----------------------------------------------------------------------


def _postprocess(
    task: Task, min_enhancing_voxels: int, largest_component: Sequence[str] = ()
) -> LabelMapPostprocess:
    if is_brats_task(task):
        return BratsPostprocess(
            min_enhancing_voxels=min_enhancing_voxels,
            task=task,
            largest_component=largest_component,
        )
    return LabelMapPostprocess(task, largest_component=largest_component)


def build_predictor(
    config: RecipeConfig, model: Any, choice: PostprocessingChoice | None = None
) -> Predictor:
    """The :class:`~unetseg.inference.Predictor` of a recipe: its preprocessing, sliding
    window, activation (none for a model that outputs probabilities) and post-processing.

    Args:
        config: The recipe.
        model: A ``keras.Model`` or the path of a ``.keras`` file, or a list of them
            (the folds of a cross-validation): their probabilities are averaged
            (:class:`~unetseg.inference.Ensemble`).
        choice: Post-processing chosen on validation cases; without one,
            ``inference.min_enhancing_voxels`` and no component step.
    """
    task = resolve_task(config.task)
    models = list(model) if isinstance(model, list | tuple) else [model]
    named = [str(m) if isinstance(m, str | os.PathLike) else "the model" for m in models]
    models = [load_model(m) if isinstance(m, str | os.PathLike) else m for m in models]
    for name, loaded in zip(named, models, strict=True):
        check_model_fits(loaded, config, name)
    model = Ensemble(models, task.activation) if len(models) > 1 else models[0]
    inference = config.inference
    logits = not isinstance(model, Ensemble) and output_activation(model) is None
    inferer = SlidingWindowInferer(
        config.window,
        overlap=inference.overlap,
        batch_size=inference.batch_size,
        tta=inference.tta,
        blending=inference.blending,
        activation=task.activation if logits else None,
    )
    if choice is not None:
        postprocess = _postprocess(task, choice.min_enhancing_voxels, choice.largest_component)
    else:
        postprocess = _postprocess(task, inference.min_enhancing_voxels)
    return Predictor(model, inferer, case_preprocessing(config, with_label=False), postprocess)


def check_model_fits(model: Any, config: RecipeConfig, name: str = "the model") -> None:
    """Refuse a model that cannot have been trained by this recipe: its input rank and
    channels against the recipe's network (2D or 3D, the modalities), its (first)
    output's channels against the task. Checked before any case is read, so an
    unrelated ``--model`` is a one-line error, not a failure deep inside inference.

    Raises:
        ConfigError: Naming the model, what it takes or gives, and what the recipe needs.
    """
    inputs = getattr(model, "inputs", None)
    outputs = getattr(model, "outputs", None)
    if not inputs or not outputs:
        return  # a subclassed model or a function: nothing to compare before calling it
    if len(inputs) != 1:
        raise ConfigError(f"{name} takes {len(inputs)} inputs; a recipe's network takes one image.")
    dims, channels = config.spatial_dims, config.network.in_channels
    shape = tuple(inputs[0].shape)
    if len(shape) != dims + 2 or shape[-1] not in (None, channels):
        raise ConfigError(
            f"{name} takes inputs of shape {shape}, but the recipe feeds {dims}D images with "
            f"{channels} channels (batch, {', '.join(['size'] * dims)}, {channels}): it is not "
            "a model of this recipe."
        )
    task = resolve_task(config.task)
    produced = tuple(outputs[0].shape)[-1]
    if produced != task.out_channels:
        raise ConfigError(
            f"{name} outputs {produced} channels, but the task {task.name!r} has "
            f"{task.out_channels} ({', '.join(task.channel_names)}): it is not a model of "
            "this recipe."
        )


def window_size_warning(config: RecipeConfig) -> str | None:
    """A warning when inference windows differ from the training patches, else ``None``.

    Instance, group and layer normalisation take their statistics over the whole
    window, so windows of another size than the training patches shift them (in the
    ``quick`` recipe, 64³ windows after 24³ patches cost about 0.3 of ET Dice). The
    recipe's default windows are the patch size, as nnU-Net's.

    Args:
        config: The recipe to check.

    Example:
        >>> config = RecipeConfig.from_dict(
        ...     {"model": {"preset": "nnunet_3d"}, "train": {"patch_size": [64, 64, 64]}}
        ... )
        >>> window_size_warning(config) is None
        True
        >>> config = config.replace(inference={"roi_size": [128, 128, 128]})
        >>> print(window_size_warning(config))  # doctest: +ELLIPSIS
        inference.roi_size [128, 128, 128] differs from train.patch_size [64, 64, 64] ...
    """
    roi, patch = config.inference.roi_size, config.train.patch_size
    if roi is None or tuple(roi) == tuple(patch):
        return None
    norm = NORMS.split_spec(config.network.norm)[0]
    if norm not in _WINDOW_STATISTICS_NORMS:
        return None
    return (
        f"inference.roi_size {list(roi)} differs from train.patch_size {list(patch)} and the "
        f"network uses {norm} normalisation, whose statistics come from the whole window: "
        "predictions will be worse than with windows of the patch size (leave "
        "inference.roi_size out)."
    )
