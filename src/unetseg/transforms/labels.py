"""Label transforms: label maps to a task's targets, BraTS regions and back, one-hot.

:class:`EncodeLabels` turns a label map into the training target of any
:class:`~unetseg.task.Task` (region masks or one-hot classes). The BraTS region
definitions live in :mod:`unetseg.regions`; ``ConvertBratsLabels`` is the BraTS
regions' encoding under its familiar name.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unetseg.errors import ConfigError, DataError
from unetseg.regions import convert_label_convention, labels_to_regions, regions_to_labels
from unetseg.task import Task, resolve_task
from unetseg.transforms.base import MapTransform, Transform
from unetseg.transforms.dictionary import ArrayTransformd

__all__ = [
    "AsDiscrete",
    "AsDiscreted",
    "ConvertBratsLabels",
    "ConvertBratsLabelsd",
    "EncodeLabels",
    "EncodeLabelsd",
    "FromLabelConventiond",
    "OneHot",
    "OneHotd",
    "RegionsToBratsLabels",
    "RegionsToBratsLabelsd",
]


class EncodeLabels(Transform):
    """A label map ``(*spatial[, 1])`` → the ``uint8`` target of ``task``, ``(*spatial, C)``.

    Region tasks get one mask per region, class tasks a one-hot encoding (see
    :meth:`unetseg.task.Task.encode`). A label the task does not know raises a
    :class:`~unetseg.errors.DataError` naming it.

    Args:
        task: A :class:`~unetseg.task.Task` or a registered name (``"brats_regions"``).

    Example:
        >>> EncodeLabels("brats_classes")(np.array([[0], [4]])).tolist()
        [[1, 0, 0, 0], [0, 0, 0, 1]]
    """

    def __init__(self, task: Task | str) -> None:
        self.task = resolve_task(task)

    def __repr__(self) -> str:
        return f"EncodeLabels(task={self.task.name!r})"

    def __call__(self, label: Any) -> np.ndarray:
        return self.task.encode(label, where=f"EncodeLabels({self.task.name}): the label map")


class ConvertBratsLabels(Transform):
    """BraTS label map (0/1/2/4) → three ``uint8`` channels WT, TC, ET.

    Accepts ``(*spatial)`` or ``(*spatial, 1)``; returns ``(*spatial, 3)``. Any other
    label value (such as 3) raises a :class:`~unetseg.errors.DataError` naming it.

    Example:
        >>> ConvertBratsLabels()(np.array([[0], [1], [2], [4]]))[:, :].tolist()
        [[0, 0, 0], [1, 1, 0], [1, 0, 0], [1, 1, 1]]
    """

    def __call__(self, label: Any) -> np.ndarray:
        return labels_to_regions(label, where="ConvertBratsLabels: the label map")


class RegionsToBratsLabels(Transform):
    """Three region channels WT, TC, ET → BraTS label map, with a trailing axis of 1.

    Args:
        threshold: Channels are probabilities: a voxel is in a region above it.
            ``None`` when they are already binary.
    """

    def __init__(self, threshold: float | None = None) -> None:
        self.threshold = threshold

    def __call__(self, regions: Any) -> np.ndarray:
        array = np.asarray(regions)
        if self.threshold is not None:
            array = array > self.threshold
        return regions_to_labels(array)[..., None]


class AsDiscrete(Transform):
    """Turn scores into discrete values: a threshold per channel or an argmax over channels.

    Args:
        threshold: Voxels above it become 1, others 0 (independent channels).
        argmax: Replace the channels by the index of the largest (one channel out).

    Exactly one of the two must be set.
    """

    def __init__(self, threshold: float | None = None, argmax: bool = False) -> None:
        if (threshold is None) == (not argmax):
            raise ConfigError("AsDiscrete needs exactly one of threshold=... or argmax=True.")
        self.threshold, self.argmax = threshold, bool(argmax)

    def __call__(self, scores: Any) -> np.ndarray:
        array = np.asarray(scores)
        if self.argmax:
            return np.argmax(array, axis=-1)[..., None].astype(np.uint8)
        return (array > self.threshold).astype(np.uint8)


class OneHot(Transform):
    """Integer labels ``(*spatial[, 1])`` → one-hot channels ``(*spatial, num_classes)``.

    Args:
        num_classes: The number of classes; labels must lie in ``[0, num_classes)``.
        dtype: Output dtype.
    """

    def __init__(self, num_classes: int, dtype: str = "uint8") -> None:
        if not isinstance(num_classes, int) or num_classes < 2:
            raise ConfigError(f"num_classes must be an integer >= 2, got {num_classes!r}.")
        self.num_classes, self.dtype = num_classes, dtype

    def __call__(self, label: Any) -> np.ndarray:
        array = np.asarray(label)
        if array.ndim > 1 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.size and (array.min() < 0 or array.max() >= self.num_classes):
            found = sorted({int(v) for v in np.unique(array) if not 0 <= v < self.num_classes})
            raise DataError(
                f"OneHot: labels {found} lie outside [0, {self.num_classes}); a BraTS map "
                "(0/1/2/4) needs ConvertBratsLabels or a relabelling first."
            )
        return np.eye(self.num_classes, dtype=self.dtype)[array.astype(np.intp)]


class EncodeLabelsd(ArrayTransformd):
    """Dictionary form of :class:`EncodeLabels`."""

    array_transform = EncodeLabels


class ConvertBratsLabelsd(ArrayTransformd):
    """Dictionary form of :class:`ConvertBratsLabels`."""

    array_transform = ConvertBratsLabels


class RegionsToBratsLabelsd(ArrayTransformd):
    """Dictionary form of :class:`RegionsToBratsLabels`."""

    array_transform = RegionsToBratsLabels


class AsDiscreted(ArrayTransformd):
    """Dictionary form of :class:`AsDiscrete`."""

    array_transform = AsDiscrete


class OneHotd(ArrayTransformd):
    """Dictionary form of :class:`OneHot`."""

    array_transform = OneHot


class FromLabelConventiond(MapTransform):
    """Convert label maps into the BraTS 2020 labels from the record's own convention.

    A record found in a BraTS 2023-style folder says ``"label_convention":
    "brats2023"`` (enhancing tumour 3); this writes its ``keys`` in the 2020 labels
    (enhancing tumour 4), which unetseg's BraTS tasks use. Records without the key
    pass unchanged.

    Args:
        keys: The label keys.
        allow_missing_keys: Skip keys the record lacks instead of raising.

    Example:
        >>> record = {"label": np.array([0, 3]), "label_convention": "brats2023"}
        >>> FromLabelConventiond("label")(record)["label"].tolist()
        [0, 4]
    """

    def __call__(self, record: dict) -> dict:
        convention = record.get("label_convention")
        result = dict(record)
        for key in self.key_iterator(result):
            result[key] = convert_label_convention(result[key], convention)
        return result
