"""BraTS evaluation: Dice, HD95, sensitivity and specificity per tumour region.

The BraTS 2020 rules, applied per case and region (WT, TC, ET; see
:mod:`unetseg.regions`):

- both prediction and truth empty: Dice 1, HD95 0 (a case without enhancing
  tumour, correctly predicted without it);
- exactly one empty: Dice 0, HD95 373.13 mm (the diagonal of the 240×240×155 mm
  volume) — which is why one stray enhancing-tumour voxel in a case without ET
  is so expensive;
- otherwise the ordinary Dice and HD95 (in mm, voxel spacing aware).

Background is never scored.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from unetseg.errors import DataError
from unetseg.fileio import atomic_write
from unetseg.metrics.distance import hd95
from unetseg.metrics.overlap import confusion_counts, dice_from_counts
from unetseg.regions import BRATS_REGIONS, label_map_to_region_masks

__all__ = [
    "BRATS_EMPTY_HD95",
    "METRIC_NAMES",
    "BratsEvaluation",
    "as_regions",
    "evaluate_brats",
    "evaluate_brats_case",
    "region_masks",
    "score_masks",
]

#: HD95 when exactly one of prediction and truth is empty: the BraTS 2020 value,
#: the diagonal of a 240 × 240 × 155 volume of 1 mm voxels.
BRATS_EMPTY_HD95 = 373.13

#: The metrics reported per case and region, in column order.
METRIC_NAMES = ("dice", "hd95", "sensitivity", "specificity")

_STATISTICS = ("mean", "std", "median", "q25", "q75", "count")


def region_masks(segmentation: Any, *, where: str = "The segmentation") -> dict[str, np.ndarray]:
    """Return one contiguous boolean mask per region (WT, TC, ET) from any accepted form.

    Accepted: a label map (0/1/2/4) of three spatial axes, optionally with a trailing
    axis of 1; region masks with a trailing axis of 3 (WT, TC, ET); or a mapping
    ``{"WT": mask, "TC": mask, "ET": mask}``.

    Args:
        segmentation: The label map, region masks or mapping of masks.
        where: How to name the input in an error message (a file or case id).

    Raises:
        DataError: If the input is none of these; the message names ``where``.
    """
    if isinstance(segmentation, Mapping):
        missing = [key for key in BRATS_REGIONS if key not in segmentation]
        if missing:
            raise DataError(f"{where} lacks the regions {missing}; expected WT, TC and ET.")
        return {key: np.asarray(segmentation[key], dtype=bool) for key in BRATS_REGIONS}
    array = np.asarray(segmentation)
    if array.ndim == 4 and array.shape[-1] == len(BRATS_REGIONS):
        if array.dtype != bool and not np.isin(array, (0, 1)).all():
            raise DataError(f"{where} looks like region masks (last axis 3) but is not binary.")
        return {
            key: np.ascontiguousarray(array[..., channel], dtype=bool)
            for channel, key in enumerate(BRATS_REGIONS)
        }
    if array.ndim == 3 or (array.ndim == 4 and array.shape[-1] == 1):
        return label_map_to_region_masks(array, where=where)
    raise DataError(
        f"{where} has shape {array.shape}; expected a 3D label map (0/1/2/4) or region "
        "masks of shape (H, W, D, 3)."
    )


def as_regions(segmentation: Any, *, where: str = "The segmentation") -> np.ndarray:
    """Return WT/TC/ET masks stacked on a last axis, ``spatial + (3,)``, as ``bool``.

    Accepts what :func:`region_masks` accepts.

    Args:
        segmentation: A label map, region masks or mapping of masks (see
            :func:`region_masks`).
        where: How to name the input in an error message (a file or case id).
    """
    return np.stack(list(region_masks(segmentation, where=where).values()), axis=-1)


def evaluate_brats_case(
    prediction: Any,
    truth: Any,
    *,
    spacing: Sequence[float] | float | None = (1.0, 1.0, 1.0),
    empty_hd95: float = BRATS_EMPTY_HD95,
    case_id: str | None = None,
) -> dict[str, dict[str, float]]:
    """Score one case per region with the BraTS 2020 rules.

    Args:
        prediction: Label map or region masks (see :func:`as_regions`).
        truth: The same, for the ground truth.
        spacing: Voxel size in mm; BraTS volumes are 1 mm isotropic.
        empty_hd95: HD95 when exactly one of the two is empty.
        case_id: Named in error messages.

    Returns:
        ``{"WT": {"dice": ..., "hd95": ..., "sensitivity": ..., "specificity": ...},
        "TC": ..., "ET": ...}``.

    Raises:
        DataError: If an input is malformed or the shapes differ.

    Example:
        >>> import numpy as np
        >>> truth = np.zeros((8, 8, 8), np.uint8)
        >>> truth[2:6, 2:6, 2:6] = 2  # oedema
        >>> truth[3:5, 3:5, 3:5] = 1  # necrotic core
        >>> scores = evaluate_brats_case(truth, truth)
        >>> scores["WT"]["dice"], scores["ET"]["dice"], scores["ET"]["hd95"]  # no ET anywhere
        (1.0, 1.0, 0.0)
    """
    label = f"case {case_id!r}" if case_id is not None else "the case"
    predicted = region_masks(prediction, where=f"The prediction of {label}")
    actual = region_masks(truth, where=f"The ground truth of {label}")
    if predicted["WT"].shape != actual["WT"].shape:
        raise DataError(
            f"The prediction of {label} has shape {predicted['WT'].shape} but its ground truth "
            f"has shape {actual['WT'].shape}."
        )
    return {
        region: score_masks(predicted[region], actual[region], spacing, empty_hd95)
        for region in BRATS_REGIONS
    }


def score_masks(
    predicted: np.ndarray,
    truth: np.ndarray,
    spacing: Sequence[float] | float | None,
    empty_hd95: float,
) -> dict[str, float]:
    """Dice, HD95, sensitivity and specificity of one boolean mask against another, with
    the BraTS rules for empty masks (both empty: Dice 1, HD95 0; one empty: Dice 0, HD95
    ``empty_hd95``).

    Args:
        predicted: The predicted mask.
        truth: The true mask, of the same shape.
        spacing: The voxel size in mm.
        empty_hd95: HD95 when exactly one of the two is empty.
    """
    counts = confusion_counts(predicted, truth)
    positives = counts.true_positive + counts.false_negative
    negatives = counts.true_negative + counts.false_positive
    return {
        "dice": dice_from_counts(
            counts.true_positive, counts.false_positive, counts.false_negative
        ),
        "hd95": hd95(predicted, truth, spacing, empty_distance=empty_hd95),
        "sensitivity": counts.true_positive / positives if positives else math.nan,
        "specificity": counts.true_negative / negatives if negatives else math.nan,
    }


@dataclass
class BratsEvaluation:
    """Per-case, per-region scores of a set of cases, with summaries and CSV output.

    Attributes:
        rows: One dictionary per case and region: ``case``, ``region`` and the
            metrics of :data:`METRIC_NAMES`.
        regions: The regions (or a task's scored channels) summarised, in order:
            WT, TC, ET by default.
    """

    rows: list[dict[str, Any]] = field(default_factory=list)
    regions: tuple[str, ...] = tuple(BRATS_REGIONS)

    def add_case(self, case_id: str, scores: Mapping[str, Mapping[str, float]]) -> None:
        """Append the scores of one case (as :func:`evaluate_brats_case` returns them)."""
        for region, metrics in scores.items():
            self.rows.append({"case": case_id, "region": region, **dict(metrics)})

    @property
    def case_ids(self) -> list[str]:
        """The case ids, in the order they were added."""
        return list(dict.fromkeys(row["case"] for row in self.rows))

    def values(self, region: str, metric: str) -> np.ndarray:
        """All values of one metric for one region, NaN included."""
        return np.array([row[metric] for row in self.rows if row["region"] == region], dtype=float)

    def summary(self) -> list[dict[str, Any]]:
        """Mean, std, median, 25th and 75th percentiles and count per region and metric.

        NaN values (an undefined sensitivity, say) are left out, and ``count``
        says how many values each statistic is computed from.
        """
        table = []
        for region in self.regions:
            for metric in METRIC_NAMES:
                values = self.values(region, metric)
                values = values[~np.isnan(values)]
                if values.size:
                    stats = [
                        float(np.mean(values)),
                        float(np.std(values)),
                        float(np.median(values)),
                        float(np.percentile(values, 25)),
                        float(np.percentile(values, 75)),
                        int(values.size),
                    ]
                else:
                    stats = [math.nan] * 5 + [0]
                statistics = dict(zip(_STATISTICS, stats, strict=True))
                table.append({"region": region, "metric": metric, **statistics})
        return table

    def mean(self, region: str, metric: str = "dice") -> float:
        """The mean of one metric over the cases (NaN left out)."""
        values = self.values(region, metric)
        values = values[~np.isnan(values)]
        return float(np.mean(values)) if values.size else math.nan

    def to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write the per-case rows (``case,region,dice,hd95,sensitivity,specificity``)."""
        _write_csv(path, ["case", "region", *METRIC_NAMES], self.rows)

    def summary_to_csv(self, path: str | os.PathLike[str]) -> None:
        """Write :meth:`summary` (``region,metric,mean,std,median,q25,q75,count``)."""
        _write_csv(path, ["region", "metric", *_STATISTICS], self.summary())

    def format_summary(self) -> str:
        """A plain-text table of mean ± std (median) per region and metric.

        Columns are as wide as their widest cell, so large HD95 values stay apart.
        """
        by_key = {(row["region"], row["metric"]): row for row in self.summary()}
        cells = {
            region: [
                "{mean:.4f} ± {std:.4f} ({median:.4f})".format(**by_key[(region, metric)])
                for metric in METRIC_NAMES
            ]
            for region in self.regions
        }
        widths = [
            2 + max(len(name), *(len(cells[region][i]) for region in self.regions))
            for i, name in enumerate(METRIC_NAMES)
        ]
        first = max(8, *(len(region) + 2 for region in self.regions))
        lines = [
            f"{'region':<{first}}"
            + "".join(f"{m:>{w}}" for m, w in zip(METRIC_NAMES, widths, strict=True))
        ]
        for region in self.regions:
            row = "".join(f"{cell:>{w}}" for cell, w in zip(cells[region], widths, strict=True))
            lines.append(f"{region:<{first}}{row}")
        lines.append(f"{len(self.case_ids)} cases; mean ± std (median); HD95 in mm")
        return "\n".join(lines)


def _write_csv(path: str | os.PathLike[str], columns: list[str], rows: Iterable[dict]) -> None:
    with atomic_write(path, newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(
                {
                    key: (f"{value:.6g}" if isinstance(value, float) else value)
                    for key, value in row.items()
                }
            )


def evaluate_brats(
    cases: Iterable[tuple[Any, ...]],
    *,
    spacing: Sequence[float] | float | None = (1.0, 1.0, 1.0),
    empty_hd95: float = BRATS_EMPTY_HD95,
) -> BratsEvaluation:
    """Score many cases with the BraTS rules.

    Args:
        cases: ``(case_id, prediction, truth)`` triples; prediction and truth as
            for :func:`evaluate_brats_case`. A fourth item, when given, is that
            case's voxel size (read from its file). A generator keeps one case in
            memory at a time.
        spacing: Voxel size in mm of the cases that do not give their own.
        empty_hd95: HD95 when exactly one of the two is empty.

    Returns:
        A :class:`BratsEvaluation` with per-case rows and summaries.

    Raises:
        DataError: If a case is malformed or a case id repeats.
    """
    return score_cases(
        cases,
        BratsEvaluation(),
        lambda prediction, truth, case_spacing, case_id: evaluate_brats_case(
            prediction, truth, spacing=case_spacing, empty_hd95=empty_hd95, case_id=case_id
        ),
        spacing,
    )


def score_cases(
    cases: Iterable[tuple[Any, ...]],
    evaluation: BratsEvaluation,
    score: Callable[[Any, Any, Any, str], Mapping[str, Mapping[str, float]]],
    spacing: Sequence[float] | float | None,
) -> BratsEvaluation:
    """Add the scores of each ``(case_id, prediction, truth[, spacing])`` to ``evaluation``.

    Args:
        cases: The cases; a fourth item is that case's voxel size.
        evaluation: Where the rows go.
        score: ``score(prediction, truth, spacing, case_id)`` → scores per region.
        spacing: The voxel size of cases that do not give their own.

    Raises:
        DataError: If a case id repeats (or ``score`` raises it).
    """
    seen: set[str] = set()
    for case_id, prediction, truth, *own in cases:
        if case_id in seen:
            raise DataError(f"Case id {case_id!r} appears twice in the evaluation.")
        seen.add(case_id)
        evaluation.add_case(case_id, score(prediction, truth, own[0] if own else spacing, case_id))
    return evaluation
