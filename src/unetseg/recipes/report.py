"""What a recipe reports: the BraTS evaluation of its predictions, figures, a summary.

:func:`report` scores the written predictions the BraTS way
(:func:`~unetseg.inference.evaluate_predictions`), writes ``metrics.csv`` and ``summary.csv``, draws
the figures, computes the original notebook's metric for 2D recipes and returns a
:class:`RecipeResult`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unetseg.fileio import write_json
from unetseg.inference import (
    Predictor,
    brats_submission_name,
    evaluate_predictions,
    is_brats_task,
    read_label_map,
)
from unetseg.metrics import BratsEvaluation, pooled_soft_dice
from unetseg.recipes.config import RecipeConfig
from unetseg.recipes.pieces import slice_preprocessing
from unetseg.regions import convert_label_convention
from unetseg.transforms import LoadImage

__all__ = ["RecipeResult", "report", "worst_first"]

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


def worst_first(evaluation: BratsEvaluation) -> list[str]:
    """Case ids ordered by their mean Dice over the regions, the worst first.

    Args:
        evaluation: The BraTS evaluation of the cases.

    Example:
        >>> import numpy as np
        >>> from unetseg.metrics import evaluate_brats
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
    if not is_brats_task(config.task):  # the overlays draw the BraTS regions
        print(f"No overlays: they draw BraTS regions, not the task {config.task.name!r}.")
        return written
    for case in worst_first(evaluation)[: config.report.overlays]:
        record = by_id[case]
        image = LoadImage(image_only=True)(record["image"])
        truth, _ = read_label_map(record["label"])
        predicted, _ = read_label_map(prediction_dir / brats_submission_name(record["id"]))
        convention = record.get("label_convention")  # drawn in the 2020 labels
        truth = convert_label_convention(truth, convention)
        predicted = convert_label_convention(predicted, convention)
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
    """Evaluate the written predictions, draw the figures, print and return the summary.

    Args:
        config: The recipe.
        work_dir: The run's folder: the predictions are read from
            ``work_dir/predictions``; metrics and figures are written there.
        test: The records of the held-out cases (with their labels).
        predictor: The predictor that wrote the predictions (2D recipes: it computes the
            notebook's metric).
        history: The training history, one row per epoch.
        start: The run's start, a ``time.perf_counter()`` value, for its duration.
        log: Where the summary lines go.
    """
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
    evaluation = evaluate_predictions(prediction_dir, test, task=config.task)
    evaluation.to_csv(work_dir / "metrics.csv")
    evaluation.summary_to_csv(work_dir / "summary.csv")
    figures = _figures(config, work_dir, test, prediction_dir, evaluation)
    seconds = time.perf_counter() - start
    log(evaluation.format_summary())
    log(f"Finished in {seconds:.0f} s; results in {work_dir}")
    return RecipeResult(evaluation, history, seconds, figures, legacy)
