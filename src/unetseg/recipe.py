"""The BraTS 2020 recipe: a configuration file in, a trained and evaluated model out.

This is the glue above the building blocks (the top layer, with the command line):
it reads a recipe configuration (TOML, see ``examples/brats2020/``), finds or
generates the data, preprocesses it into a cache, trains with the
:class:`~unetseg.training.Trainer`, predicts the held-out cases with the
:class:`~unetseg.inference.Predictor`, evaluates them the BraTS way and draws
pictures. :func:`run` does all of it; the pieces are public so the command line's
``predict`` and ``evaluate`` reuse them.

A run leaves in its work directory::

    recipe.json        the resolved configuration (the predict step reads it)
    config.json, history.csv, best.keras, last.keras      (the Trainer's)
    predictions/       BraTS-format label maps of the held-out cases
    metrics.csv        per case and region: Dice, HD95, sensitivity, specificity
    summary.csv        mean, std, median, quartiles per region and metric
    figures/           overlays of a few held-out cases and the training curves
"""

from __future__ import annotations

import copy
import json
import os
import time
import tomllib
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unetseg.errors import ConfigError, DataError
from unetseg.fileio import atomic_write

__all__ = [
    "DEFAULTS",
    "apply_overrides",
    "augmentation",
    "build_model_config",
    "build_trainer",
    "evaluate_predictions",
    "load_config",
    "predict_cases",
    "preprocessing",
    "run",
    "split_cases",
    "window_size_warning",
]

# Every key a recipe may set, with its default; a key not listed here is an error.
DEFAULTS: dict[str, dict[str, Any]] = {
    "recipe": {"name": "unnamed", "seed": 0, "description": ""},
    "data": {
        "path": "",  # a BraTS training folder; empty: generated cases
        "synthetic_cases": 12,
        "synthetic_shape": [96, 96, 64],
        "test_cases": 3,  # held out for the final evaluation ("fold" decides when 0)
        "val_cases": 1,
        "folds": 5,
        "fold": 0,
        "modalities": [],  # 2D recipes: the channels kept (0 FLAIR, 1 T1, 2 T1ce, 3 T2)
        "slice_range": [],  # 2D recipes: the axial slices used, [start, stop)
    },
    "model": {"preset": "", "config": {}},
    "train": {
        "loss": "dice_ce",
        "loss_options": {},  # keyword arguments of the loss, e.g. {batch = true}
        "optimizer": "sgd",
        "learning_rate": 1e-2,
        "schedule": "poly",
        "warmup_epochs": 0,
        "epochs": 1000,
        "steps_per_epoch": 250,
        "batch_size": 2,
        "patch_size": [128, 128, 128],
        "foreground_ratio": 0.33,
        "workers": 2,
        "precision": "float32",
        "val_every": 10,
        "patience": 0,
    },
    "augment": {"flip": True, "intensity": True},
    "inference": {
        "roi_size": [],  # empty: the patch size
        "overlap": 0.5,
        "batch_size": 2,
        "tta": False,
        "min_enhancing_voxels": 0,
    },
    "report": {"overlays": 3},
}


def _check(config: dict[str, Any], source: str) -> dict[str, Any]:
    """Merge ``config`` into the defaults, refusing unknown sections and keys."""
    result = copy.deepcopy(DEFAULTS)
    for section, values in config.items():
        if section not in DEFAULTS:
            raise ConfigError(
                f"{source}: unknown section [{section}]; the sections are {', '.join(DEFAULTS)}."
            )
        if not isinstance(values, dict):
            raise ConfigError(f"{source}: [{section}] must be a table of settings.")
        for key, value in values.items():
            if key not in DEFAULTS[section]:
                raise ConfigError(
                    f"{source}: unknown setting {section}.{key}; [{section}] has "
                    f"{', '.join(DEFAULTS[section])}."
                )
            default = DEFAULTS[section][key]
            if isinstance(default, bool) and not isinstance(value, bool):
                raise ConfigError(f"{source}: {section}.{key} must be true or false.")
            is_number = isinstance(value, (int, float)) and not isinstance(value, bool)
            if (
                isinstance(default, (int, float))
                and not isinstance(default, bool)
                and not is_number
            ):
                raise ConfigError(f"{source}: {section}.{key} must be a number, got {value!r}.")
            if isinstance(default, (list, dict, str)) and not isinstance(value, type(default)):
                raise ConfigError(
                    f"{source}: {section}.{key} must be a {type(default).__name__}, got {value!r}."
                )
            result[section][key] = value
    return result


def load_config(path: str | os.PathLike[str], overrides: Sequence[str] = ()) -> dict[str, Any]:
    """Read a recipe file (TOML) and apply ``section.key=value`` overrides.

    Raises:
        ConfigError: If the file is missing or not valid TOML, or a section, key or
            value is wrong (the message names the file and the setting).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"Recipe file {path} does not exist.")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path} is not valid TOML: {error}.") from error
    config = _check(raw, str(path))
    return apply_overrides(config, overrides)


def apply_overrides(config: dict[str, Any], overrides: Sequence[str]) -> dict[str, Any]:
    """Apply ``section.key=value`` settings (values in TOML syntax; bare words are text).

    Example:
        >>> config = apply_overrides(copy.deepcopy(DEFAULTS), ["train.epochs=3"])
        >>> config["train"]["epochs"]
        3
    """
    raw: dict[str, dict[str, Any]] = {s: dict(v) for s, v in config.items()}
    for override in overrides:
        name, separator, text = override.partition("=")
        section, dot, key = name.strip().partition(".")
        if not separator or not dot:
            raise ConfigError(f"Override {override!r} must look like section.key=value.")
        try:
            value = tomllib.loads(f"value = {text.strip()}")["value"]
        except tomllib.TOMLDecodeError:
            value = text.strip()
        raw.setdefault(section, {})[key.strip()] = value
    return _check(raw, "overrides")


# -- the pipeline pieces --------------------------------------------------------------


def preprocessing(with_label: bool = True) -> Any:
    """The deterministic preprocessing of training and prediction: load the four
    modalities (and the label, as WT/TC/ET masks), z-score each modality over the
    brain, crop to the brain."""
    from unetseg.transforms import (
        Compose,
        ConvertBratsLabelsd,
        CropForegroundd,
        LoadImaged,
        NormalizeIntensityd,
    )

    keys = ["image", "label"] if with_label else ["image"]
    steps: list[Any] = [LoadImaged(keys)]
    if with_label:
        steps.append(ConvertBratsLabelsd("label"))
    steps += [
        NormalizeIntensityd("image", nonzero=True, channel_wise=True),
        CropForegroundd(keys, source_key="image", margin=2),
    ]
    return Compose(steps)


def augmentation(config: dict[str, Any]) -> Any:
    """The random augmentation of training patches (flips; intensity scale and shift)."""
    from unetseg.transforms import Compose, RandFlipd, RandScaleIntensityd, RandShiftIntensityd

    steps: list[Any] = []
    if config["augment"]["flip"]:
        steps.append(RandFlipd(["image", "label"], prob=0.5))
    if config["augment"]["intensity"]:
        steps += [
            RandScaleIntensityd("image", factors=0.1, prob=0.5),
            RandShiftIntensityd("image", offsets=0.1, prob=0.5),
        ]
    return Compose(steps, seed=config["recipe"]["seed"]) if steps else None


def build_model_config(config: dict[str, Any]) -> Any:
    """The network: a preset with overrides, or a full :class:`UNetConfig`."""
    from unetseg.networks import NETWORKS, UNetConfig

    model = config["model"]
    settings = dict(model["config"])
    try:
        if model["preset"]:
            return NETWORKS.create(model["preset"], **settings)
        return UNetConfig(**settings)
    except TypeError as error:
        raise ConfigError(f"[model] config: {error}.") from error


def split_cases(
    records: Sequence[dict[str, Any]], config: dict[str, Any]
) -> tuple[list[dict], list[dict], list[dict]]:
    """Train, validation and test records.

    With ``data.test_cases > 0`` that many cases are held out for the final evaluation
    and ``data.val_cases`` more for validation during training. With
    ``data.test_cases = 0`` the split is fold ``data.fold`` of ``data.folds``
    (cross-validation): the held-out fold is both validated and evaluated.
    """
    from unetseg.data import kfold_splits

    data = config["data"]
    by_id = {r["id"]: r for r in records}
    ids = sorted(by_id)
    seed = config["recipe"]["seed"]
    if data["test_cases"] > 0:
        needed = data["test_cases"] + data["val_cases"] + 1
        if len(ids) < needed:
            raise ConfigError(
                f"The recipe holds out {data['test_cases']} test and {data['val_cases']} "
                f"validation cases but the data has only {len(ids)} cases."
            )
        order = [ids[i] for i in np.random.default_rng(seed).permutation(len(ids))]
        test = sorted(order[: data["test_cases"]])
        val = sorted(order[data["test_cases"] : data["test_cases"] + data["val_cases"]])
        train = sorted(order[data["test_cases"] + data["val_cases"] :])
    else:
        if not 0 <= data["fold"] < data["folds"]:
            raise ConfigError(f"data.fold must be in 0–{data['folds'] - 1}, got {data['fold']}.")
        train, val = kfold_splits(ids, data["folds"], seed=seed)[data["fold"]]
        test = val
    return [by_id[i] for i in train], [by_id[i] for i in val], [by_id[i] for i in test]


def build_trainer(
    config: dict[str, Any], model_config: Any, work_dir: Path, **validation: Any
) -> Any:
    """The :class:`~unetseg.training.Trainer` of a recipe's ``[train]`` settings.

    Args:
        validation: The Trainer's validation settings that differ between 2D and 3D
            recipes (``val_roi_size``, ``val_mode``, ``channel_names``).
    """
    from unetseg.training import Trainer

    settings = config["train"]
    return Trainer(
        model_config,
        (settings["loss"], settings["loss_options"]),
        settings["optimizer"],
        metrics=["dice"],
        work_dir=work_dir,
        learning_rate=settings["learning_rate"],
        schedule=settings["schedule"],
        warmup_epochs=settings["warmup_epochs"],
        precision=settings["precision"],
        seed=config["recipe"]["seed"],
        val_every=settings["val_every"],
        patience=settings["patience"] or None,
        verbose=2,
        **validation,
    )


def _find_or_generate(config: dict[str, Any], data: str | None, work_dir: Path) -> list[dict]:
    from unetseg.data import find_brats_cases, write_synthetic_brats

    path = data or config["data"]["path"]
    if path:
        return find_brats_cases(path, require_labels=True)
    folder = work_dir / "data"
    count = config["data"]["synthetic_cases"]
    if count < 1:
        raise ConfigError(
            f"The recipe {config['recipe']['name']!r} trains on real data: pass --data "
            "PATH (a MICCAI_BraTS2020_TrainingData folder) or set data.path."
        )
    shape = tuple(config["data"]["synthetic_shape"])
    marker = folder / ".complete.json"
    wanted = {"cases": count, "shape": list(shape), "seed": config["recipe"]["seed"]}
    if not (marker.is_file() and json.loads(marker.read_text()) == wanted):
        print(f"Generating {count} BraTS-like cases of {shape} voxels in {folder}")
        write_synthetic_brats(folder, count, shape=shape, seed=wanted["seed"], progress=False)
        with atomic_write(marker) as handle:
            json.dump(wanted, handle)
    return find_brats_cases(folder, require_labels=True)


#: Normalisations whose statistics come from the whole input window.
_WINDOW_STATISTICS_NORMS = ("instance", "group", "layer")


def window_size_warning(config: dict[str, Any]) -> str | None:
    """A warning when inference windows differ from the training patches, else ``None``.

    Instance, group and layer normalisation take their statistics over the whole
    window, so windows of another size than the training patches shift them (in the
    ``quick`` recipe, 64³ windows after 24³ patches cost about 0.3 of ET Dice). The
    recipe's default windows are the patch size, as nnU-Net's.

    Example:
        >>> config = apply_overrides(
        ...     DEFAULTS, ['model.preset="nnunet_3d"', "train.patch_size=[64, 64, 64]"]
        ... )
        >>> window_size_warning(config) is None
        True
        >>> config = apply_overrides(config, ["inference.roi_size=[128, 128, 128]"])
        >>> print(window_size_warning(config))  # doctest: +ELLIPSIS
        inference.roi_size [128, 128, 128] differs from train.patch_size [64, 64, 64] ...
    """
    from unetseg.networks import NORMS

    roi, patch = config["inference"]["roi_size"], config["train"]["patch_size"]
    if not roi or list(roi) == list(patch):
        return None
    norm = NORMS.split_spec(build_model_config(config).norm)[0]
    if norm not in _WINDOW_STATISTICS_NORMS:
        return None
    return (
        f"inference.roi_size {list(roi)} differs from train.patch_size {list(patch)} and the "
        f"network uses {norm} normalisation, whose statistics come from the whole window: "
        "predictions will be worse than with windows of the patch size (leave "
        "inference.roi_size empty)."
    )


def _inferer(config: dict[str, Any]) -> Any:
    from unetseg.inference import SlidingWindowInferer

    inference = config["inference"]
    roi = inference["roi_size"] or config["train"]["patch_size"]
    return SlidingWindowInferer(
        roi,
        overlap=inference["overlap"],
        batch_size=inference["batch_size"],
        tta=inference["tta"],
    )


def predict_cases(
    model: Any,
    records: Iterable[dict[str, Any]],
    output_dir: str | os.PathLike[str],
    config: dict[str, Any],
    *,
    overwrite: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write ``<id>.nii.gz`` BraTS label maps for ``records`` with the recipe's settings."""
    from unetseg.inference import BratsPostprocess, Predictor

    predictor = Predictor(
        model,
        _inferer(config),
        preprocessing(with_label=False),
        BratsPostprocess(min_enhancing_voxels=config["inference"]["min_enhancing_voxels"]),
    )
    return predictor.predict(records, output_dir, overwrite=overwrite, progress=progress)


def evaluate_predictions(
    prediction_dir: str | os.PathLike[str], truth_records: Sequence[dict[str, Any]]
) -> Any:
    """Score ``prediction_dir/<id>.nii.gz`` against each record's label, the BraTS way.

    Raises:
        DataError: If a prediction is missing (the message names it).
    """
    import nibabel as nib

    from unetseg.inference import brats_submission_name
    from unetseg.metrics import evaluate_brats

    prediction_dir = Path(prediction_dir)
    missing = [
        r["id"]
        for r in truth_records
        if not (prediction_dir / brats_submission_name(r["id"])).is_file()
    ]
    if missing:
        raise DataError(f"{prediction_dir} has no prediction for {', '.join(missing)}.")

    def triples() -> Iterable[tuple[str, np.ndarray, np.ndarray]]:
        for record in truth_records:
            if not record.get("label"):
                raise DataError(f"Case {record['id']} has no ground-truth segmentation.")
            predicted = nib.load(str(prediction_dir / brats_submission_name(record["id"])))
            truth = nib.load(str(record["label"]))
            if predicted.shape != truth.shape:
                raise DataError(
                    f"The prediction of {record['id']} has shape {predicted.shape}, its truth "
                    f"{truth.shape}."
                )
            yield record["id"], np.asarray(predicted.dataobj), np.asarray(truth.dataobj)

    spacing = None
    if truth_records:
        spacing = tuple(
            float(z) for z in nib.load(str(truth_records[0]["label"])).header.get_zooms()[:3]
        )
    return evaluate_brats(triples(), spacing=spacing)


def _figures(
    config: dict[str, Any], work_dir: Path, test: Sequence[dict], prediction_dir: Path
) -> list[Path]:
    import importlib.util

    if importlib.util.find_spec("matplotlib") is None:
        print("No figures: install unetseg[viz] (matplotlib) to draw them.")
        return []
    import nibabel as nib

    from unetseg.inference import brats_submission_name
    from unetseg.transforms import LoadImage
    from unetseg.viz import overlay, training_curves

    folder = work_dir / "figures"
    written = [folder / "training_curves.png"]
    training_curves(work_dir / "history.csv", path=written[0], title=config["recipe"]["name"])
    for record in list(test)[: config["report"]["overlays"]]:
        image = LoadImage(image_only=True)(record["image"])
        truth = np.asarray(nib.load(str(record["label"])).dataobj)
        predicted = np.asarray(
            nib.load(str(prediction_dir / brats_submission_name(record["id"]))).dataobj
        )
        path = folder / f"overlay_{record['id']}.png"
        overlay(image, truth, predicted, path=path, title=record["id"])
        written.append(path)
    return written


def run(
    config: dict[str, Any],
    work_dir: str | os.PathLike[str],
    *,
    data: str | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train, predict the held-out cases, evaluate and draw; return the summary.

    Args:
        config: A resolved recipe (:func:`load_config`).
        work_dir: The run's folder; an interrupted run continues in it.
        data: A BraTS 2020 training folder (overrides ``data.path``); without one,
            generated cases.
        log: Where progress lines go.

    Returns:
        ``{"evaluation": BratsEvaluation, "history": [...], "seconds": float,
        "figures": [paths]}``.
    """
    from unetseg.data import PatchDataset, PreprocessedCache

    start = time.perf_counter()
    model_config = build_model_config(config)
    work_dir = Path(work_dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    with atomic_write(work_dir / "recipe.json") as handle:
        json.dump(config, handle, indent=2)
    records = _find_or_generate(config, data, work_dir)
    train, val, test = split_cases(records, config)
    log(f"{len(train)} training, {len(val)} validation and {len(test)} test cases")
    if warning := window_size_warning(config):
        log(f"Warning: {warning}")
    if model_config.spatial_dims == 2:
        from unetseg.recipe_2d import run_2d

        return run_2d(config, model_config, work_dir, (train, val, test), log, start)
    cache = PreprocessedCache(work_dir / "cache", preprocessing(), seed=config["recipe"]["seed"])
    cases = {c.id: c for c in cache.build([*train, *val], progress=False)}
    settings = config["train"]
    patches = PatchDataset(
        [cases[r["id"]] for r in train],
        settings["patch_size"],
        batch_size=settings["batch_size"],
        steps_per_epoch=settings["steps_per_epoch"],
        foreground_ratio=settings["foreground_ratio"],
        augment=augmentation(config),
        seed=config["recipe"]["seed"],
        workers=settings["workers"],
    )
    trainer = build_trainer(
        config, model_config, work_dir, val_roi_size=config["inference"]["roi_size"] or None
    )
    history = trainer.fit(patches, [cases[r["id"]] for r in val], epochs=settings["epochs"])
    log(f"Training done after {time.perf_counter() - start:.0f} s; predicting {len(test)} cases")
    prediction_dir = work_dir / "predictions"
    predict_cases(work_dir / "best.keras", test, prediction_dir, config, progress=False)
    return finish(config, work_dir, test, prediction_dir, history, log, start)


def finish(
    config: dict[str, Any],
    work_dir: Path,
    test: Sequence[dict[str, Any]],
    prediction_dir: Path,
    history: list[dict[str, float]],
    log: Callable[[str], None],
    start: float,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Evaluate the written predictions, draw the figures, print the summary."""
    evaluation = evaluate_predictions(prediction_dir, test)
    evaluation.to_csv(work_dir / "metrics.csv")
    evaluation.summary_to_csv(work_dir / "summary.csv")
    figures = _figures(config, work_dir, test, prediction_dir)
    seconds = time.perf_counter() - start
    log(evaluation.format_summary())
    log(f"Finished in {seconds:.0f} s; results in {work_dir}")
    return {
        "evaluation": evaluation,
        "history": history,
        "seconds": seconds,
        "figures": figures,
        **(extra or {}),
    }
