"""Pictures of segmentations and training runs (matplotlib, through the ``viz`` extra).

- :func:`overlay`: one slice of an image with the whole tumour, tumour core and
  enhancing tumour drawn as contours, ground truth beside prediction.
- :func:`training_curves`: loss and Dice per epoch from a run's history.

Both return a ``matplotlib.figure.Figure`` and, given a path, write it as PNG
atomically. They never touch ``pyplot``'s global state, so they work in scripts,
threads and notebooks alike.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unetseg.errors import DataError
from unetseg.fileio import atomic_write
from unetseg.optional import require
from unetseg.regions import BRATS_REGIONS, labels_to_regions

__all__ = ["REGION_COLOURS", "overlay", "training_curves"]

#: The contour colour of each BraTS region (whole tumour, tumour core, enhancing tumour).
REGION_COLOURS = {"WT": "#f5c400", "TC": "#e8542a", "ET": "#2ab0e8"}


def _figure(width: float, height: float) -> Any:
    require("matplotlib", purpose="drawing figures")
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _save(figure: Any, path: str | os.PathLike[str] | None) -> None:
    if path is None:
        return
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise DataError(f"{path}: figures are written as PNG; use a .png file name.")
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png")


def _regions(segmentation: Any, where: str) -> np.ndarray:
    """BraTS labels ``(*spatial)`` or region masks ``(*spatial, 3)`` → region masks."""
    array = np.asarray(segmentation)
    if array.ndim == 4 and array.shape[-1] == len(BRATS_REGIONS):
        return array > 0
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    if array.ndim != 3:
        raise DataError(
            f"{where} must be a 3D BraTS label map or WT/TC/ET masks (*spatial, 3); got shape "
            f"{array.shape}."
        )
    return labels_to_regions(np.rint(array).astype(np.int64), where=where).astype(bool)


def _largest_slice(masks: np.ndarray, axis: int) -> int:
    other = tuple(a for a in range(3) if a != axis)
    area = masks[..., 0].sum(axis=other)
    return int(area.argmax()) if area.any() else masks.shape[axis] // 2


def overlay(
    image: Any,
    truth: Any = None,
    prediction: Any = None,
    *,
    path: str | os.PathLike[str] | None = None,
    slice_index: int | None = None,
    axis: int = 2,
    channel: int = 0,
    title: str | None = None,
) -> Any:
    """Draw one slice of ``image`` with WT/TC/ET contours of the truth and the prediction.

    Args:
        image: ``(*spatial)`` or ``(*spatial, C)`` (3D).
        truth: A BraTS label map or WT/TC/ET masks, or ``None``.
        prediction: The same for the prediction, or ``None``.
        path: Write the figure here as PNG.
        slice_index: The slice to show; by default the one with the most whole tumour
            in the truth (else in the prediction).
        axis: The axis the slice is taken across (2: axial for BraTS volumes).
        channel: The image channel shown (0 is FLAIR in BraTS order).
        title: A title above the panels (the case id, say).

    Returns:
        The figure: one panel per given segmentation (truth, then prediction).

    Raises:
        DataError: If shapes disagree or ``slice_index`` is out of range.
    """
    volume = np.asarray(image, dtype=np.float32)
    if volume.ndim == 4:
        volume = volume[..., channel]
    if volume.ndim != 3:
        raise DataError(f"overlay needs a 3D image (with channels last), got {volume.shape}.")
    panels = [
        (name, _regions(seg, f"The {name.lower()}"))
        for name, seg in (("Truth", truth), ("Prediction", prediction))
        if seg is not None
    ]
    for name, masks in panels:
        if masks.shape[:3] != volume.shape:
            raise DataError(
                f"The {name.lower()} has spatial shape {masks.shape[:3]}, the image {volume.shape}."
            )
    if slice_index is None:
        slice_index = _largest_slice(panels[0][1], axis) if panels else volume.shape[axis] // 2
    if not 0 <= slice_index < volume.shape[axis]:
        raise DataError(f"slice_index {slice_index} is outside 0–{volume.shape[axis] - 1}.")
    picture = np.take(volume, slice_index, axis=axis)
    low, high = np.percentile(picture, [0.5, 99.5]) if picture.any() else (0.0, 1.0)
    figure = _figure(3.2 * max(len(panels), 1), 3.6)
    axes = figure.subplots(1, max(len(panels), 1), squeeze=False)[0]
    for index, ax in enumerate(axes):
        ax.imshow(picture.T, cmap="gray", origin="lower", vmin=low, vmax=high)
        ax.set_axis_off()
        if index >= len(panels):
            continue
        name, masks = panels[index]
        ax.set_title(name, fontsize=10)
        for region_index, region in enumerate(BRATS_REGIONS):
            mask = np.take(masks[..., region_index], slice_index, axis=axis)
            if mask.any():
                ax.contour(
                    mask.T.astype(float),
                    levels=[0.5],
                    colors=[REGION_COLOURS[region]],
                    linewidths=1.2,
                    origin="lower",
                )
    handles = _legend_handles()
    figure.legend(handles=handles, loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    figure.suptitle(f"{title or ''}  (slice {slice_index})".strip(), fontsize=10)
    _save(figure, path)
    return figure


def _legend_handles() -> list[Any]:
    from matplotlib.lines import Line2D

    return [Line2D([], [], color=colour, label=name) for name, colour in REGION_COLOURS.items()]


def training_curves(
    history: Sequence[Mapping[str, float]] | str | os.PathLike[str],
    *,
    path: str | os.PathLike[str] | None = None,
    title: str | None = None,
) -> Any:
    """Loss (left) and Dice (right) per epoch.

    Args:
        history: One mapping per epoch (``Trainer.fit``'s return value) or the path of
            a ``history.csv``. Columns ending in ``loss`` go left; ``val_dice*`` and
            training ``*dice*`` columns go right (empty epochs are skipped).
        path: Write the figure here as PNG.
        title: A title above the panels.

    Returns:
        The figure.

    Raises:
        DataError: If the history is empty or has no loss.
    """
    if isinstance(history, (str, os.PathLike)):
        from unetseg.training.callbacks import read_history

        history = read_history(history)
    rows = list(history)
    if not rows or not any("loss" in row for row in rows):
        raise DataError("training_curves needs a history with at least one epoch and a loss.")
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(rows)]
    columns: list[str] = []
    for row in rows:
        columns += [key for key in row if key not in columns]
    losses = [c for c in columns if c.endswith("loss")]
    dices = [c for c in columns if "dice" in c]
    figure = _figure(9.0, 3.4)
    left, right = figure.subplots(1, 2)
    for ax, names, label in ((left, losses, "loss"), (right, dices, "Dice")):
        for name in names:
            points = [
                (e, row[name])
                for e, row in zip(epochs, rows, strict=True)
                if name in row and math.isfinite(row[name])
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                ax.plot(xs, ys, marker="o" if len(points) < 30 else None, ms=3, label=name)
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        if ax.lines:
            ax.legend(fontsize=7)
    if dices:
        right.set_ylim(0, 1)
    if title:
        figure.suptitle(title, fontsize=10)
    _save(figure, path)
    return figure
