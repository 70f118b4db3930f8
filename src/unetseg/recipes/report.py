"""What a recipe reports: the BraTS evaluation of its predictions, figures, a summary.

:func:`evaluate_predictions` scores written predictions against the truth the BraTS
way (also the command line's ``evaluate``), refusing a prediction that does not lie
on its truth's grid. :func:`report` writes ``metrics.csv`` and ``summary.csv``, draws
the figures, computes the original notebook's metric for 2D recipes and returns a
:class:`RecipeResult`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import os
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unetseg.errors import DataError
from unetseg.fileio import write_json
from unetseg.inference import Predictor, brats_submission_name, read_label_map
from unetseg.metrics import BratsEvaluation, evaluate_brats, pooled_soft_dice
from unetseg.recipes.config import RecipeConfig
from unetseg.recipes.pieces import slice_preprocessing
from unetseg.transforms import LoadImage

__all__ = ["RecipeResult", "evaluate_predictions", "report", "worst_first"]

Record = dict[str, Any]


@dataclasses.dataclass
class RecipeResult:
    """What :func:`~unetseg.recipes.run` returns.

    Attributes:
        evaluation: The BraTS evaluation of the held-out cases.
        history: One row per training epoch.
        seconds: The run's duration.
        figures: The pictures drawn (none without matplotlib).
        notebook_metric: 2D recipes: the original notebook's background-inclusive
            pooled soft Dice, overall and per case; ``None`` for 3D recipes.
    """

    evaluation: BratsEvaluation
    history: list[dict[str, float]]
    seconds: float
    figures: list[Path]
    notebook_metric: dict[str, Any] | None = None


def _same_grid(prediction: Path, truth: Path, pmeta: dict, tmeta: dict) -> None:
    if pmeta["spatial_shape"] != tmeta["spatial_shape"]:
        raise DataError(
            f"The prediction {prediction} has shape {pmeta['spatial_shape']} but its truth "
            f"{truth} has {tmeta['spatial_shape']}."
        )
    if not np.allclose(pmeta["affine"], tmeta["affine"], atol=1e-3):
        raise DataError(
            f"The prediction {prediction} and its truth {truth} lie on different grids "
            f"(affines differ: voxel size {pmeta['spacing']} vs {tmeta['spacing']}, origin "
            f"{np.round(pmeta['affine'][:3, 3], 2).tolist()} vs "
            f"{np.round(tmeta['affine'][:3, 3], 2).tolist()}); scoring them voxel by voxel "
            "would be wrong."
        )


def evaluate_predictions(
    prediction_dir: str | os.PathLike[str], truth_records: Sequence[Record]
) -> BratsEvaluation:
    """Score ``prediction_dir/<id>.nii.gz`` against each record's label, the BraTS way.

    Each case is scored with its own voxel spacing (for HD95).

    Raises:
        DataError: If a prediction is missing, a case has no truth, a file cannot be
            read, or a prediction is not on its truth's grid (shape or affine); the
            message names the files.
    """
    prediction_dir = Path(prediction_dir)
    missing = [
        r["id"]
        for r in truth_records
        if not (prediction_dir / brats_submission_name(r["id"])).is_file()
    ]
    if missing:
        raise DataError(f"{prediction_dir} has no prediction for {', '.join(missing)}.")

    def cases() -> Iterator[tuple[str, np.ndarray, np.ndarray, tuple[float, ...]]]:
        for record in truth_records:
            if not record.get("label"):
                raise DataError(f"Case {record['id']} has no ground-truth segmentation.")
            path = prediction_dir / brats_submission_name(record["id"])
            predicted, pmeta = read_label_map(path)
            truth, tmeta = read_label_map(record["label"])
            _same_grid(path, Path(record["label"]), pmeta, tmeta)
            yield record["id"], predicted, truth, tmeta["spacing"]

    return evaluate_brats(cases())


def worst_first(evaluation: BratsEvaluation) -> list[str]:
    """Case ids ordered by their mean Dice over the regions, the worst first.

    Example:
        >>> import numpy as np
        >>> truth = np.zeros((8, 8, 8), np.uint8); truth[2:6, 2:6, 2:6] = 2
        >>> half = truth.copy(); half[2:4] = 0
        >>> worst_first(evaluate_brats([("good", truth, truth), ("poor", half, truth)]))
        ['poor', 'good']
    """
    dice = {case: [] for case in evaluation.case_ids}
    for row in evaluation.rows:
        dice[row["case"]].append(row["dice"])
    return sorted(dice, key=lambda case: float(np.nanmean(dice[case])))


def _figures(
    config: RecipeConfig,
    work_dir: Path,
    test: Sequence[Record],
    prediction_dir: Path,
    evaluation: BratsEvaluation,
) -> list[Path]:
    if importlib.util.find_spec("matplotlib") is None:
        print("No figures: install unetseg[viz] (matplotlib) to draw them.")
        return []
    from unetseg.viz import overlay, training_curves

    folder = work_dir / "figures"
    written = [folder / "training_curves.png"]
    training_curves(work_dir / "history.csv", path=written[0], title=config.recipe.name)
    by_id = {record["id"]: record for record in test}
    for case in worst_first(evaluation)[: config.report.overlays]:
        record = by_id[case]
        image = LoadImage(image_only=True)(record["image"])
        truth, _ = read_label_map(record["label"])
        predicted, _ = read_label_map(prediction_dir / brats_submission_name(record["id"]))
        path = folder / f"overlay_{record['id']}.png"
        overlay(image, truth, predicted, path=path, title=record["id"])
        written.append(path)
    return written


def notebook_metric(
    config: RecipeConfig, predictor: Predictor, test: Sequence[Record]
) -> dict[str, Any]:
    """The original notebook's number on the held-out slices: a soft Dice pooled over all
    classes, background included (see :func:`~unetseg.metrics.pooled_soft_dice`)."""
    with_truth = slice_preprocessing(config, with_label=True)
    per_case = {}
    for record in test:
        probabilities, _ = predictor.probabilities(record)
        targets = with_truth(dict(record))["label"]
        per_case[record["id"]] = float(pooled_soft_dice(targets, probabilities))
    return {
        "pooled_soft_dice_with_background": float(np.mean(list(per_case.values()))),
        "per_case": per_case,
    }


def report(
    config: RecipeConfig,
    work_dir: Path,
    test: Sequence[Record],
    predictor: Predictor,
    history: list[dict[str, float]],
    *,
    start: float,
    log: Callable[[str], None] = print,
) -> RecipeResult:
    """Evaluate the written predictions, draw the figures, print and return the summary."""
    prediction_dir = work_dir / "predictions"
    legacy = None
    if config.spatial_dims == 2:
        legacy = notebook_metric(config, predictor, test)
        write_json(work_dir / "notebook_metric.json", legacy)
        log(
            "The notebook's number — soft Dice pooled over all classes, background included — "
            f"on the held-out slices: {legacy['pooled_soft_dice_with_background']:.4f}. "
            "The BraTS metrics of the same predictions:"
        )
    evaluation = evaluate_predictions(prediction_dir, test)
    evaluation.to_csv(work_dir / "metrics.csv")
    evaluation.summary_to_csv(work_dir / "summary.csv")
    figures = _figures(config, work_dir, test, prediction_dir, evaluation)
    seconds = time.perf_counter() - start
    log(evaluation.format_summary())
    log(f"Finished in {seconds:.0f} s; results in {work_dir}")
    return RecipeResult(evaluation, history, seconds, figures, legacy)
