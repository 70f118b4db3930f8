"""Post-processing chosen on the validation cases, as nnU-Net chooses it.

After training, the recipe predicts its validation cases exactly as it will predict
the test cases (the source grid, nothing outside the brain) and tries, on those
predictions, the steps that may or may not help a given model:

1. for each region (or class), keeping only its largest connected component — kept
   if it raises that region's mean validation Dice;
2. for BraTS tasks, the enhancing-tumour threshold (``min_enhancing_voxels``): all
   enhancing tumour of a case with fewer voxels becomes necrosis. The recipe's own
   value stands unless another of a few candidates gives a better mean ET Dice: a
   validation case with enhancing tumour can only show that a threshold is too high,
   and one without can only show that it is too low, so where the validation cases
   cannot tell (a tie), the recipe's prior decides.

The choice is written to the run's ``postprocessing.json`` with the Dice before and
after, and ``unetseg predict`` applies it. Validation cases are few, so a step must
strictly improve the Dice to be chosen.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unetseg.errors import DataError
from unetseg.fileio import write_json
from unetseg.inference import (
    LabelMapPostprocess,
    Predictor,
    keep_largest_component,
    read_label_map,
)
from unetseg.inference.postprocess import is_brats_task, suppress_small_enhancing
from unetseg.metrics import dice
from unetseg.regions import convert_label_convention
from unetseg.task import Task

__all__ = ["POSTPROCESSING_FILE", "PostprocessingChoice", "choose_postprocessing"]

#: Where a run keeps its chosen post-processing.
POSTPROCESSING_FILE = "postprocessing.json"

#: The enhancing-tumour thresholds tried, in voxels of the source grid.
ET_THRESHOLDS = (0, 50, 100, 200, 500, 1000)


@dataclasses.dataclass(frozen=True)
class PostprocessingChoice:
    """The post-processing a run chose on its validation cases.

    Attributes:
        largest_component: The channels whose largest component alone is kept.
        min_enhancing_voxels: The enhancing-tumour threshold (BraTS tasks; else 0).
        cases: The validation cases it was chosen on.
        dice_before: Mean validation Dice per channel without post-processing.
        dice_after: The same with the chosen steps.
    """

    largest_component: tuple[str, ...] = ()
    min_enhancing_voxels: int = 0
    cases: tuple[str, ...] = ()
    dice_before: dict[str, float] = dataclasses.field(default_factory=dict)
    dice_after: dict[str, float] = dataclasses.field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible values."""
        return dataclasses.asdict(self)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> PostprocessingChoice:
        """Read a run's ``postprocessing.json``.

        Raises:
            DataError: If the file is not a post-processing choice.
        """
        import json

        try:
            values = json.loads(Path(path).read_text(encoding="utf-8"))
            return cls(
                largest_component=tuple(values["largest_component"]),
                min_enhancing_voxels=int(values["min_enhancing_voxels"]),
                cases=tuple(values.get("cases", ())),
                dice_before=dict(values.get("dice_before", {})),
                dice_after=dict(values.get("dice_after", {})),
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise DataError(f"{path} is not a post-processing choice: {error}") from error


def _scores(task: Task, pairs: Sequence[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Mean Dice per scored channel over ``(prediction, truth)`` label maps."""
    scores = {}
    for channel in task.scored_channels:
        labels = sorted(task.channel_labels[channel])
        values = [dice(np.isin(p, labels), np.isin(t, labels)) for p, t in pairs]
        scores[task.channel_names[channel]] = float(np.mean(values))
    return scores


def choose_postprocessing(
    predictor: Predictor,
    records: Sequence[dict[str, Any]],
    task: Task,
    *,
    min_enhancing_voxels: int = 0,
) -> PostprocessingChoice:
    """Predict ``records`` and choose the post-processing steps that raise their Dice.

    Args:
        predictor: The recipe's predictor; its post-processing is replaced here by the
            plain label map of ``task`` (the candidates are applied on top).
        records: Validation cases with a ``"label"`` file.
        task: What the outputs mean.
        min_enhancing_voxels: The recipe's enhancing-tumour threshold (BraTS tasks):
            kept unless another candidate scores strictly better.

    Returns:
        The choice (empty for no records).
    """
    records = [r for r in records if r.get("label")]
    if not records:
        return PostprocessingChoice()
    plain = Predictor(
        predictor.model,
        predictor.inferer,
        predictor.preprocess,
        LabelMapPostprocess(task, getattr(predictor.postprocess, "threshold", 0.5)),
        image_key=predictor.image_key,
        outside_is_background=predictor.outside_is_background,
    )
    pairs = []
    for record in records:
        predicted, _ = plain.predict_record(record)
        truth, _ = read_label_map(record["label"])
        truth = convert_label_convention(truth, record.get("label_convention"))
        pairs.append((predicted, truth))
    before = _scores(task, pairs)
    chosen: list[str] = []
    current = pairs
    scores = before
    for channel in task.scored_names:
        trial = [(keep_largest_component(p, task, [channel]), t) for p, t in current]
        trial_scores = _scores(task, trial)
        if trial_scores[channel] > scores[channel] + 1e-6:
            chosen.append(channel)
            current, scores = trial, trial_scores
    threshold = 0
    if is_brats_task(task):
        et = next(
            n
            for n, labels in zip(task.channel_names, task.channel_labels, strict=True)
            if set(labels) == {4}
        )

        def with_threshold(value: int) -> dict[str, float]:
            return _scores(task, [(suppress_small_enhancing(p, value), t) for p, t in current])

        threshold = min_enhancing_voxels
        scores = with_threshold(threshold)
        for candidate in sorted({*ET_THRESHOLDS} - {threshold}):
            trial_scores = with_threshold(candidate)
            if trial_scores[et] > scores[et] + 1e-6:
                threshold, scores = candidate, trial_scores
    return PostprocessingChoice(
        largest_component=tuple(chosen),
        min_enhancing_voxels=threshold,
        cases=tuple(str(r["id"]) for r in records),
        dice_before=before,
        dice_after=scores,
    )


def save_choice(choice: PostprocessingChoice, work_dir: str | os.PathLike[str]) -> Path:
    """Write ``choice`` to ``work_dir/postprocessing.json``."""
    path = Path(work_dir) / POSTPROCESSING_FILE
    write_json(path, choice.to_dict())
    return path
