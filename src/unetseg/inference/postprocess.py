"""From probabilities to a label map on the source grid, written as NIfTI.

:class:`LabelMapPostprocess` turns a network's probabilities into the label map of its
task (:meth:`unetseg.task.Task.decode`: regions thresholded and painted, or the most
probable class) and puts it back on the grid of the source image.

For BraTS, a region-based network predicts three overlapping regions: whole tumour
(WT), tumour core (TC) and enhancing tumour (ET). :func:`probabilities_to_brats_labels`
thresholds them and nests them into the BraTS labels: 4 where ET; 1 where TC but not
ET; 2 where WT but not TC. :func:`suppress_small_enhancing` then removes implausibly
small enhancing
predictions, as nnU-Net's BraTS entries do: the BraTS evaluation scores a case without
enhancing tumour Dice 0 and HD95 373 for a single false ET voxel, and 1 / 0 for none at
all, so a few stray voxels cost more than missing a tiny real ET ever could
(:class:`BratsPostprocess` does both). :func:`restore_geometry` undoes the recorded
preprocessing (crops, pads, resampling, reorientation) and :func:`write_label_map`
writes the result with the source affine and header as ``uint8``, under the BraTS
submission file name (:func:`brats_submission_name`).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy import ndimage

from unetseg.errors import ConfigError, DataError
from unetseg.regions import BRATS_LABELS, regions_to_labels
from unetseg.task import BRATS_REGIONS, Task, resolve_task
from unetseg.transforms.geometry import any_channel
from unetseg.transforms.io import LoadImage, SaveImage
from unetseg.transforms.metadata import invert

__all__ = [
    "BratsPostprocess",
    "LabelMapPostprocess",
    "background_outside_input",
    "brats_submission_name",
    "is_brats_task",
    "keep_largest_component",
    "probabilities_to_brats_labels",
    "read_label_map",
    "restore_geometry",
    "suppress_small_enhancing",
    "write_label_map",
]

ENHANCING_LABEL = 4
NECROSIS_LABEL = 1
#: Recorded operations whose inverse moves voxels without interpolating them.
_EXACT_KINDS = ("crop", "flip", "rot90")


def background_outside_input(probabilities: np.ndarray, image: np.ndarray) -> np.ndarray:
    """Set ``probabilities`` to 0 (background, for regions and classes alike) where every
    channel of ``image`` is 0; in place, and returned.

    Args:
        probabilities: Channels-last probabilities ``(*spatial, K)``; modified in place.
        image: The channels-last input image ``(*spatial, C)`` on the same grid.

    Example:
        >>> p = np.full((3, 1), 0.9, np.float32)
        >>> background_outside_input(p, np.array([[1.0], [0.0], [2.0]]))[:, 0].tolist()
        [0.8999999761581421, 0.0, 0.8999999761581421]
    """
    empty = ~any_channel(np.asarray(image), lambda values: values != 0)
    if empty.shape != probabilities.shape[:-1]:
        raise DataError(
            f"The image's spatial shape {empty.shape} differs from the prediction's "
            f"{probabilities.shape[:-1]}."
        )
    probabilities[empty] = 0.0
    return probabilities


def probabilities_to_brats_labels(probabilities: Any, threshold: float = 0.5) -> np.ndarray:
    """Region probabilities ``(*spatial, 3)`` (WT, TC, ET) → a ``uint8`` BraTS label map.

    Args:
        probabilities: Sigmoid outputs of the three regions, channels last.
        threshold: A voxel is in a region where its probability exceeds this.

    Returns:
        The label map of the spatial shape: 4 where ET; 1 where TC but not ET; 2 where
        WT but not TC; 0 elsewhere. Inner regions win where the thresholded regions are
        not nested (an ET voxel outside WT is still 4).

    Example:
        >>> probabilities_to_brats_labels(np.array([[0.9, 0.8, 0.7], [0.9, 0.8, 0.1],
        ...                                         [0.9, 0.2, 0.1], [0.1, 0.1, 0.1]]))
        array([4, 1, 2, 0], dtype=uint8)
    """
    if not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"threshold must be in [0, 1], got {threshold}.")
    return regions_to_labels(np.asarray(probabilities) > threshold)


def suppress_small_enhancing(
    labels: Any,
    min_voxels: int,
    *,
    per_component: bool = False,
    replace_with: int = NECROSIS_LABEL,
) -> np.ndarray:
    """Relabel enhancing tumour (label 4) that is too small to be believed.

    Args:
        labels: A BraTS label map.
        min_voxels: The smallest believable amount of enhancing tumour, in voxels; 0
            turns the step off.
        per_component: If false (nnU-Net's BraTS post-processing), all enhancing voxels
            are relabelled when there are fewer than ``min_voxels`` in total. If true,
            each connected enhancing component (26-connected in 3D) smaller than
            ``min_voxels`` is relabelled on its own.
        replace_with: The label given instead; 1 (necrosis) keeps the voxels in the
            tumour core and whole tumour, so only the ET score changes.

    Returns:
        A new label map; the input is not modified.

    Example:
        >>> labels = np.zeros((5, 5), dtype=np.uint8); labels[0, 0] = 4; labels[2:5, 2:5] = 4
        >>> suppress_small_enhancing(labels, 5, per_component=True)[0, 0]
        np.uint8(1)
        >>> int((suppress_small_enhancing(labels, 5) == 4).sum())
        10
    """
    if int(min_voxels) < 0:
        raise ConfigError(f"min_voxels must be >= 0, got {min_voxels}.")
    if replace_with not in (0, 1, 2):
        raise ConfigError(f"replace_with must be a BraTS label 0, 1 or 2, got {replace_with}.")
    result = np.array(labels, copy=True)
    enhancing = result == ENHANCING_LABEL
    if min_voxels == 0 or not enhancing.any():
        return result
    if not per_component:
        if enhancing.sum() < min_voxels:
            result[enhancing] = replace_with
        return result
    structure = ndimage.generate_binary_structure(result.ndim, result.ndim)
    components, count = ndimage.label(enhancing, structure=structure)
    sizes = np.bincount(components.ravel(), minlength=count + 1)
    small = sizes < min_voxels
    small[0] = False
    result[small[components]] = replace_with
    return result


def is_brats_task(task: Task | str) -> bool:
    """Whether ``task`` labels its voxels as BraTS does (0, 1, 2 and enhancing tumour 4),
    so that :class:`BratsPostprocess` and the enhancing-tumour threshold apply.

    Args:
        task: A :class:`~unetseg.task.Task` or its registered name.

    Example:
        >>> is_brats_task("brats_regions"), is_brats_task("brats_classes")
        (True, True)
    """
    labels = set(resolve_task(task).labels)
    return labels <= set(BRATS_LABELS) and ENHANCING_LABEL in labels


def keep_largest_component(labels: Any, task: Task | str, channels: Sequence[str]) -> np.ndarray:
    """Keep only the largest connected component of each named region (or class).

    Voxels of the other components leave the region and every region inside it: they
    fall back to the label of the smallest region that encloses it (for BraTS: a
    stray ET island becomes tumour core 1, a stray TC island oedema 2), else to
    background. Components are 26-connected in 3D (8 in 2D). nnU-Net's
    post-processing does this where it improves the validation Dice.

    Args:
        labels: A label map of ``task``.
        task: The task whose channel names ``channels`` are.
        channels: Channel names (case-insensitive), applied in this order.

    Returns:
        A new label map.

    Raises:
        ConfigError: For a channel the task does not have.

    Example:
        >>> labels = np.zeros((7, 7), np.uint8); labels[0, 0] = 4; labels[3:6, 3:6] = 4
        >>> keep_largest_component(labels, "brats_regions", ["ET"])[0, 0]
        np.uint8(1)
    """
    task = resolve_task(task)
    names = [n.lower() for n in task.channel_names]
    result = np.array(labels, copy=True)
    structure = ndimage.generate_binary_structure(result.ndim, result.ndim)
    for channel in channels:
        if channel.lower() not in names:
            raise ConfigError(
                f"The task {task.name!r} has no channel {channel!r}; it has "
                f"{', '.join(task.channel_names)}."
            )
        index = names.index(channel.lower())
        own = set(task.channel_labels[index])
        if task.kind == "classes" and own == {0}:
            continue  # the background is not a region
        mask = np.isin(result, sorted(own))
        components, count = ndimage.label(mask, structure=structure)
        if count <= 1:
            continue
        sizes = np.bincount(components.ravel())
        sizes[0] = 0
        result[mask & (components != int(sizes.argmax()))] = _enclosing_label(task, index)
    return result


def _enclosing_label(task: Task, index: int) -> int:
    """The label a voxel falls back to when it leaves channel ``index``: the paint of the
    smallest region strictly containing it, else 0."""
    if task.kind != "regions" or task.paint is None:
        return 0
    own = set(task.channel_labels[index])
    containing = [
        (len(labels), task.paint[i])
        for i, labels in enumerate(task.channel_labels)
        if i != index and own < set(labels)
    ]
    return min(containing)[1] if containing else 0


def restore_geometry(array: Any, meta: dict[str, Any], *, order: int | None = None) -> np.ndarray:
    """Put an array from the preprocessed grid back onto the grid of the source file.

    Undoes the spatial operations recorded in ``meta["applied"]`` (crops, pads, flips,
    resampling), then the reorientation of ``LoadImage(as_closest_canonical=True)``.

    Args:
        array: ``(*spatial, C)`` on the preprocessed grid (a label map with a channel
            axis of 1, or probabilities).
        meta: The image's metadata from :class:`~unetseg.transforms.LoadImage` and the
            spatial transforms.
        order: The interpolation order of every resampling undone; ``None`` keeps the
            one recorded for the image. 0 brings a label map back with its labels;
            :class:`LabelMapPostprocess` brings probabilities back with 1.

    Returns:
        The array on the source grid, ``(*source_spatial, C)``.
    """
    result = invert(array, meta, order=order)
    affine, original = meta.get("affine"), meta.get("original_affine")
    if affine is not None and original is not None and not np.allclose(affine, original):
        import nibabel.orientations as orientations

        transform = orientations.ornt_transform(
            orientations.io_orientation(np.asarray(affine)),
            orientations.io_orientation(np.asarray(original)),
        )
        result = np.ascontiguousarray(orientations.apply_orientation(result, transform))
    source_shape = meta.get("source_shape") or meta.get("spatial_shape")
    if source_shape is not None and tuple(result.shape[:-1]) != tuple(source_shape):
        raise DataError(
            f"Undoing the preprocessing gave spatial shape {result.shape[:-1]}, but the source "
            f"image has {tuple(source_shape)}; was the metadata changed by hand?"
        )
    return result


def _source_meta(meta: dict[str, Any]) -> dict[str, Any]:
    """The metadata of the source file, for writing on its grid."""
    source = dict(meta)
    original = meta.get("original_affine")
    if original is not None:
        source["affine"] = original
    source["spatial_shape"] = meta.get("source_shape") or meta.get("spatial_shape")
    return source


def brats_submission_name(case_id: str) -> str:
    """The file name the BraTS 2020 evaluation expects for a case: ``<case id>.nii.gz``.

    Args:
        case_id: The case id, such as ``"BraTS20_Validation_001"``.

    Example:
        >>> brats_submission_name("BraTS20_Validation_001")
        'BraTS20_Validation_001.nii.gz'
    """
    case_id = str(case_id)
    if not case_id or os.sep in case_id or case_id in (".", ".."):
        raise DataError(f"{case_id!r} cannot be used as a case id in a file name.")
    return f"{case_id}.nii.gz"


def read_label_map(path: str | os.PathLike[str]) -> tuple[np.ndarray, dict[str, Any]]:
    """A label map file as integers ``(*spatial)`` and its metadata (affine, spacing).

    Args:
        path: The NIfTI file (``.nii`` or ``.nii.gz``) holding one volume of labels.

    Raises:
        DataError: If the file is missing, not NIfTI, corrupt, not a single volume or
            not whole numbers (the message names the file).
    """
    array, meta = LoadImage()(path)
    if array.shape[-1] != 1:
        raise DataError(f"{path} holds {array.shape[-1]} volumes; a label map holds one.")
    labels = array[..., 0]
    if not np.all(labels == np.round(labels)):
        raise DataError(f"{path} must hold whole-number labels, found other values.")
    return labels.astype(np.int16), meta


def write_label_map(
    labels: Any,
    path: str | os.PathLike[str],
    meta: dict[str, Any] | None = None,
    *,
    overwrite: bool = True,
) -> Path:
    """Write a label map on the source grid as ``uint8`` NIfTI, atomically.

    Args:
        labels: Integer labels ``(*spatial)`` or ``(*spatial, 1)`` on the source grid.
        path: The ``.nii.gz`` or ``.nii`` file to write.
        meta: The source image's metadata: its (original) affine and header are used.
        overwrite: Replace an existing file.

    Raises:
        DataError: If labels are outside 0–255 or the shape does not match the source.
    """
    array = np.asarray(labels)
    if array.dtype.kind not in "biu" or (array.size and (array.min() < 0 or array.max() > 255)):
        raise DataError(
            f"A label map to write to {path} must hold integers in 0–255, got dtype {array.dtype}."
        )
    source = _source_meta(meta) if meta is not None else None
    return SaveImage(dtype="uint8", overwrite=overwrite)(array, path, source)


class LabelMapPostprocess:
    """Probabilities on the preprocessed grid → the task's label map on the source grid.

    Args:
        task: What the channels mean (a :class:`~unetseg.task.Task` or its name):
            regions are thresholded and painted, classes take the most probable label.
        threshold: The region probability threshold.
        largest_component: Channel names whose largest connected component alone is
            kept (see :func:`keep_largest_component`), on the source grid.

    Calling it with ``(probabilities, meta)`` returns the ``uint8`` label map of the
    source image's spatial shape (without ``meta``, of the probabilities' grid).

    Example:
        >>> post = LabelMapPostprocess("brats_classes")
        >>> post(np.array([[0.1, 0.1, 0.1, 0.7], [0.9, 0.0, 0.1, 0.0]])).tolist()
        [4, 0]
    """

    def __init__(
        self, task: Task | str, threshold: float = 0.5, largest_component: Sequence[str] = ()
    ) -> None:
        if not 0.0 <= threshold <= 1.0:
            raise ConfigError(f"threshold must be in [0, 1], got {threshold}.")
        self.task = resolve_task(task)
        self.threshold = float(threshold)
        self.largest_component = tuple(largest_component)
        keep_largest_component(np.zeros((1, 1), np.uint8), self.task, self.largest_component)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(task={self.task.name!r}, threshold={self.threshold}, "
            f"largest_component={list(self.largest_component)})"
        )

    def labels(self, probabilities: Any) -> np.ndarray:
        """The label map on the grid of ``probabilities``."""
        return self.task.decode(probabilities, self.threshold)

    def refine(self, labels: np.ndarray) -> np.ndarray:
        """Post-process the label map on the source grid: the largest components."""
        if not self.largest_component:
            return labels
        return keep_largest_component(labels, self.task, self.largest_component)

    def __call__(self, probabilities: Any, meta: dict[str, Any] | None = None) -> np.ndarray:
        if meta is not None:
            # The probabilities go back to the source grid (linear where a resampling
            # or slicing is undone) and are decoded there, as nnU-Net does for its
            # low-resolution plan: a label map brought back by nearest neighbour would
            # show the coarse voxels.
            probabilities = restore_geometry(np.asarray(probabilities), meta, order=1)
        return self.refine(self.labels(probabilities))

    def decodes_first(self, meta: dict[str, Any]) -> bool:
        """Whether decoding on the preprocessed grid, then :meth:`from_labels`, gives
        what calling this with the probabilities gives: when no operation recorded in
        ``meta`` interpolates (only crops, pads, flips and rotations, which move voxels
        without mixing them, were recorded; a resampling or a slicing interpolates)
        and :meth:`labels` is :meth:`Task.decode <unetseg.task.Task.decode>` and
        calling this is this class's own (a subclass that overrides either may decode
        otherwise; :meth:`refine` may be overridden). The
        :class:`~unetseg.inference.Predictor` then has the labels decoded where the
        probabilities are (on the device, with device blending).
        """
        own = type(self)
        if own.labels is not LabelMapPostprocess.labels:
            return False
        if own.__call__ is not LabelMapPostprocess.__call__:
            return False
        applied = meta.get("applied", [])
        return all(isinstance(op, dict) and op.get("kind") in _EXACT_KINDS for op in applied)

    def from_labels(self, labels: Any, meta: dict[str, Any]) -> np.ndarray:
        """A label map decoded on the preprocessed grid (see :meth:`decodes_first`),
        on the source grid and refined."""
        labels = np.asarray(labels)
        restored = restore_geometry(labels[..., None], meta, order=0)[..., 0]
        return self.refine(np.asarray(restored, dtype=np.uint8))


class BratsPostprocess(LabelMapPostprocess):
    """BraTS probabilities → a BraTS label map on the source grid, small ET suppressed.

    Args:
        threshold: The region probability threshold.
        min_enhancing_voxels: Enhancing tumour below this many voxels is relabelled
            necrosis (see :func:`suppress_small_enhancing`); 0 keeps it all.
        per_component: Judge each enhancing component on its own.
        task: The BraTS task of the network: ``"brats_regions"`` (WT/TC/ET sigmoid
            outputs, the default) or ``"brats_classes"`` (softmax over 0/1/2/4).
        largest_component: Channel names (``"WT"``, ...) whose largest connected
            component alone is kept, before the enhancing tumour is judged.

    Calling it with ``(probabilities, meta)`` returns the ``uint8`` label map of the
    source image's spatial shape.

    Raises:
        ConfigError: For an option out of range, or a task whose labels are not BraTS's.
    """

    def __init__(
        self,
        threshold: float = 0.5,
        min_enhancing_voxels: int = 0,
        per_component: bool = False,
        task: Task | str = BRATS_REGIONS,
        largest_component: Sequence[str] = (),
    ) -> None:
        super().__init__(task, threshold, largest_component)
        if not is_brats_task(self.task):
            raise ConfigError(
                f"BratsPostprocess needs a BraTS task (labels {list(BRATS_LABELS)}), got "
                f"{self.task.name!r} with labels {list(self.task.labels)}; use "
                "LabelMapPostprocess for other tasks."
            )
        if int(min_enhancing_voxels) < 0:
            raise ConfigError(f"min_enhancing_voxels must be >= 0, got {min_enhancing_voxels}.")
        self.min_enhancing_voxels = int(min_enhancing_voxels)
        self.per_component = bool(per_component)

    def __repr__(self) -> str:
        return (
            f"BratsPostprocess(threshold={self.threshold}, "
            f"min_enhancing_voxels={self.min_enhancing_voxels}, "
            f"per_component={self.per_component}, task={self.task.name!r}, "
            f"largest_component={list(self.largest_component)})"
        )

    def refine(self, labels: np.ndarray) -> np.ndarray:
        """Small enhancing tumour relabelled, counted on the source grid (the grid the
        evaluation counts on, also for 2D networks whose slices were resized)."""
        return suppress_small_enhancing(
            super().refine(labels), self.min_enhancing_voxels, per_component=self.per_component
        )
