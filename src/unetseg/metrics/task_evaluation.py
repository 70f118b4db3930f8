"""Evaluation of any task's label maps: Dice, HD95, sensitivity, specificity per scored
channel (every region, or every class but the background).

The same rules as the BraTS evaluation (:mod:`unetseg.metrics.brats`), applied to the
channels a :class:`~unetseg.task.Task` describes — an nnU-Net or Decathlon dataset's
labels, say: both empty gives Dice 1 and HD95 0; exactly one empty gives Dice 0 and an
HD95 of the image diagonal in mm (373.13 for a BraTS volume, the BraTS value), unless
``empty_hd95`` says otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from unetseg.errors import DataError
from unetseg.metrics.brats import BratsEvaluation, score_cases, score_masks
from unetseg.metrics.distance import image_diagonal
from unetseg.task import Task, resolve_task

__all__ = ["evaluate_task", "evaluate_task_case"]


def evaluate_task_case(
    prediction: Any,
    truth: Any,
    task: Task | str | Mapping[str, Any],
    *,
    spacing: Sequence[float] | float | None = (1.0, 1.0, 1.0),
    empty_hd95: float | None = None,
    case_id: str | None = None,
) -> dict[str, dict[str, float]]:
    """Score one case's label map against its truth per scored channel of ``task``.

    Args:
        prediction: The predicted label map (the task's labels).
        truth: The true label map.
        task: The task, its registered name or its :meth:`~unetseg.task.Task.to_dict`.
        spacing: The voxel size in mm.
        empty_hd95: HD95 when exactly one of the two is empty; ``None``: the image
            diagonal in mm.
        case_id: Named in error messages.

    Returns:
        ``{channel name: {"dice", "hd95", "sensitivity", "specificity"}}``.

    Raises:
        DataError: For a label the task does not know, or shapes that differ.

    Example:
        >>> task = Task.classes("lesions", {"background": 0, "lesion": 1})
        >>> truth = np.zeros((6, 6, 6), np.uint8)
        >>> truth[1:3, 1:3, 1:3] = 1
        >>> evaluate_task_case(truth, truth, task)["lesion"]["dice"]
        1.0
    """
    task = resolve_task(task)
    label = f"case {case_id!r}" if case_id is not None else "the case"
    predicted = task.encode(prediction, where=f"The prediction of {label}")
    actual = task.encode(truth, where=f"The ground truth of {label}")
    if predicted.shape != actual.shape:
        raise DataError(
            f"The prediction of {label} has shape {predicted.shape[:-1]} but its ground truth "
            f"has shape {actual.shape[:-1]}."
        )
    empty = empty_hd95 if empty_hd95 is not None else image_diagonal(actual.shape[:-1], spacing)
    return {
        name: score_masks(
            predicted[..., channel].astype(bool), actual[..., channel].astype(bool), spacing, empty
        )
        for channel, name in zip(task.scored_channels, task.scored_names, strict=True)
    }


def evaluate_task(
    cases: Iterable[tuple[Any, ...]],
    task: Task | str | Mapping[str, Any],
    *,
    spacing: Sequence[float] | float | None = (1.0, 1.0, 1.0),
    empty_hd95: float | None = None,
) -> BratsEvaluation:
    """Score many cases per scored channel of ``task``.

    Args:
        cases: ``(case_id, prediction, truth)`` triples, with the case's voxel size as an
            optional fourth item (a generator keeps one case in memory at a time).
        task: The task whose channels are scored.
        spacing: The voxel size of cases that do not give their own.
        empty_hd95: As for :func:`evaluate_task_case`.

    Returns:
        A :class:`~unetseg.metrics.BratsEvaluation` whose regions are the task's scored
        channels (``summary``, ``format_summary``, ``to_csv`` work as for BraTS).

    Raises:
        DataError: If a case is malformed or a case id repeats.
    """
    task = resolve_task(task)
    return score_cases(
        cases,
        BratsEvaluation(regions=task.scored_names),
        lambda prediction, truth, case_spacing, case_id: evaluate_task_case(
            np.asarray(prediction),
            np.asarray(truth),
            task,
            spacing=case_spacing,
            empty_hd95=empty_hd95,
            case_id=case_id,
        ),
        spacing,
    )
