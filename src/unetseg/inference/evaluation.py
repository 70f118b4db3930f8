"""Scoring a folder of written predictions against the truth, the BraTS way.

:func:`evaluate_predictions` is what the command line's ``evaluate`` and a recipe's
report run. It reads NIfTI files and computes NumPy metrics, so it needs neither Keras
nor a backend; it refuses a prediction that does not lie on its truth's grid, which
would otherwise be scored voxel by voxel against the wrong anatomy.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unetseg.errors import DataError
from unetseg.inference.postprocess import brats_submission_name, is_brats_task, read_label_map
from unetseg.metrics.brats import BratsEvaluation, evaluate_brats
from unetseg.metrics.task_evaluation import evaluate_task
from unetseg.regions import convert_label_convention
from unetseg.task import Task, resolve_task

__all__ = ["evaluate_predictions"]

Record = dict[str, Any]


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
    prediction_dir: str | os.PathLike[str],
    truth_records: Sequence[Record],
    *,
    task: Task | str | Mapping[str, Any] | None = None,
) -> BratsEvaluation:
    """Score ``prediction_dir/<id>.nii.gz`` against each record's label: the BraTS way
    (WT, TC, ET), or per scored channel of ``task``.

    Each case is scored with its own voxel spacing (for HD95).

    Args:
        prediction_dir: The folder of predicted label maps, one ``<id>.nii.gz`` per case.
        truth_records: Case records with an ``"id"`` and a ``"label"`` (the path of the
            ground-truth label map), as from :func:`~unetseg.data.find_brats_cases`.
        task: ``None`` or a BraTS task: the BraTS regions; another task (an nnU-Net
            dataset's, from :func:`~unetseg.data.find_dataset`): its regions or classes,
            with :func:`~unetseg.metrics.evaluate_task`.

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
            # Both in the dataset's own labels; scored in the BraTS 2020 ones.
            convention = record.get("label_convention")
            predicted = convert_label_convention(predicted, convention)
            truth = convert_label_convention(truth, convention)
            yield record["id"], predicted, truth, tmeta["spacing"]

    if task is None or is_brats_task(resolve_task(task)):
        return evaluate_brats(cases())
    return evaluate_task(cases(), task)
