"""2D data from 3D volumes: axial slices, resized, as the original notebook made them.

:func:`volume_slices` cuts a range of axial slices out of a loaded case, keeps some
modalities, scales each slice stack by its maximum, resizes every slice (linear for
images, nearest for labels) and encodes the labels for a task (by default BraTS as
exclusive classes: background, necrotic core, oedema, enhancing tumour).
:class:`VolumeSlicesd` does it to a record and records the operation, so a prediction
on the slices goes back onto the volume's grid like any other prediction
(:func:`~unetseg.transforms.invert`; the ``"slices"`` inverse is
``place_slices``). :class:`SliceDataset` serves
shuffled batches of slices of many cases as a ``keras.utils.PyDataset``,
deterministic per ``(seed, epoch, batch)``.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any

import keras
import numpy as np

from unetseg.errors import ConfigError, DataError
from unetseg.task import BRATS_CLASSES, Task, resolve_task
from unetseg.transforms import MapTransform, record_operation
from unetseg.transforms.geometry import place_slices, resize_slices, slice_range_bounds

__all__ = [
    "SliceDataset",
    "VolumeSlicesd",
    "classes_to_labels",
    "labels_to_classes",
    "slices_to_volume",
    "volume_slices",
]

_LABEL_TO_CLASS = {0: 0, 1: 1, 2: 2, 4: 3}


def labels_to_classes(labels: np.ndarray) -> np.ndarray:
    """BraTS labels 0/1/2/4 → consecutive classes 0/1/2/3.

    Args:
        labels: A BraTS label map of any shape, holding only the labels 0, 1, 2 and 4.
    """
    labels = np.asarray(labels)
    unknown = set(np.unique(labels).tolist()) - set(_LABEL_TO_CLASS)
    if unknown:
        raise DataError(f"A BraTS label map holds labels {sorted(unknown)}; expected 0, 1, 2, 4.")
    classes = labels.astype(np.uint8).copy()
    classes[labels == 4] = 3
    return classes


def classes_to_labels(classes: np.ndarray) -> np.ndarray:
    """Classes 0/1/2/3 → BraTS labels 0/1/2/4.

    Args:
        classes: A class map of any shape, holding the consecutive classes 0 to 3.
    """
    labels = np.asarray(classes).astype(np.uint8).copy()
    labels[labels == 3] = 4
    return labels


def volume_slices(
    image: np.ndarray,
    label: np.ndarray | None,
    *,
    slice_range: Sequence[int],
    size: Sequence[int],
    channels: Sequence[int],
    task: Task | str = BRATS_CLASSES,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Axial slices of one case, as the notebook prepared them.

    Args:
        image: ``(H, W, D, C)`` as loaded (not normalised).
        label: ``(H, W, D)`` or ``(H, W, D, 1)`` labels, or ``None``.
        slice_range: ``(start, stop)`` along the last spatial axis (stop excluded).
        size: The slice size after resizing, ``(h, w)``.
        channels: The modalities kept (indices into C; FLAIR 0, T1ce 2).
        task: How labels become targets (:meth:`unetseg.task.Task.encode`).

    Returns:
        Images ``(n, h, w, len(channels))`` float32 divided by their maximum, and
        the targets ``(n, h, w, task.out_channels)`` float32 (or ``None``).
    """
    start, stop = slice_range_bounds(slice_range, image.shape[2])
    stack = np.moveaxis(image[:, :, start:stop][..., list(channels)], 2, 0)
    stack = resize_slices(stack.astype(np.float32), size, order=1)
    peak = float(stack.max())
    stack = stack / peak if peak > 0 else stack
    if label is None:
        return stack.astype(np.float32), None
    labels = np.asarray(label)
    if labels.ndim == 4 and labels.shape[-1] == 1:
        labels = labels[..., 0]
    task = resolve_task(task)
    labels = task.check_label_map(labels, where="The label map to slice")
    stack_labels = resize_slices(np.moveaxis(labels[:, :, start:stop], 2, 0), size, order=0)
    return stack.astype(np.float32), task.encode(stack_labels).astype(np.float32)


def slices_to_volume(
    classes: np.ndarray, shape: Sequence[int], slice_range: Sequence[int]
) -> np.ndarray:
    """Per-slice BraTS class maps ``(n, h, w)`` → a BraTS label map of ``shape`` (H, W, D).

    Slices are resized back (nearest) and placed at ``slice_range``; slices outside
    it are background, as the notebook never looked at them.

    Args:
        classes: The per-slice class maps ``(n, h, w)``, classes 0/1/2/3.
        shape: The volume's shape ``(H, W, D)``.
        slice_range: ``(start, stop)`` along the last spatial axis (stop excluded), where
            the ``n = stop - start`` slices go.
    """
    labels = classes_to_labels(np.asarray(classes, dtype=np.uint8))
    return place_slices(labels[..., None], shape, slice_range)[..., 0]


class VolumeSlicesd(MapTransform):
    """A volume in a record → its axial slices as a batch of 2D images, recorded for inversion.

    The image becomes ``(n, h, w, channels)`` (see :func:`volume_slices`), a label
    ``(n, h, w, task.out_channels)``; the operation is recorded in each key's metadata
    (kind ``"slices"``), so :func:`~unetseg.transforms.invert` and the prediction
    post-processing put slices back on the volume's grid.

    Args:
        keys: The image key, and optionally the label key after it.
        slice_range: ``(start, stop)`` along the last spatial axis.
        size: The slice size ``(h, w)``.
        channels: The image channels kept; ``None`` keeps all.
        task: How the label becomes targets.
        allow_missing_keys: Skip a missing label (prediction records have none).
    """

    def __init__(
        self,
        keys: Hashable | Sequence[Hashable],
        slice_range: Sequence[int],
        size: Sequence[int],
        channels: Sequence[int] | None = None,
        task: Task | str = BRATS_CLASSES,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        if len(self.keys) not in (1, 2):
            raise ConfigError(f"VolumeSlicesd takes an image key and a label key, got {self.keys}.")
        if len(slice_range) != 2 or len(size) != 2:
            raise ConfigError(
                f"VolumeSlicesd needs slice_range (start, stop) and size (h, w), got "
                f"{list(slice_range)} and {list(size)}."
            )
        self.slice_range = [int(v) for v in slice_range]
        self.size = [int(v) for v in size]
        self.channels = None if channels is None else [int(c) for c in channels]
        self.task = resolve_task(task)

    def __call__(self, record: dict) -> dict:
        result = dict(record)
        present = list(self.key_iterator(result))
        image_key = self.keys[0]
        if image_key not in present:
            return result
        label_key = self.keys[1] if len(self.keys) == 2 and self.keys[1] in present else None
        image = np.asarray(result[image_key])
        if image.ndim != 4:
            raise DataError(
                f"VolumeSlicesd: {image_key!r} must be a volume (H, W, D, C), got {image.shape}."
            )
        channels = self.channels if self.channels is not None else range(image.shape[-1])
        if max(channels) >= image.shape[-1]:
            raise ConfigError(
                f"VolumeSlicesd: channels {list(channels)} do not exist in an image with "
                f"{image.shape[-1]} channels."
            )
        label = result[label_key] if label_key is not None else None
        result[image_key], target = volume_slices(
            image,
            label,
            slice_range=self.slice_range,
            size=self.size,
            channels=channels,
            task=self.task,
        )
        operation = {"kind": "slices", "range": self.slice_range, "shape": list(image.shape[:3])}
        record_operation(result, image_key, {**operation, "order": 0})
        if label_key is not None:
            result[label_key] = target
            record_operation(result, label_key, {**operation, "order": 0})
        return result


class SliceDataset(keras.utils.PyDataset):
    """Shuffled batches ``(images, one-hot classes)`` of prepared slices.

    Args:
        images: ``(n, h, w, c)`` slices of all training cases (from :func:`volume_slices`).
        targets: ``(n, h, w, 4)`` their one-hot classes.
        batch_size: Slices per batch.
        seed: The seed of the shuffling; epoch ``e`` is a permutation drawn from
            ``(seed, e)``.
        **kwargs: ``workers`` etc. of ``keras.utils.PyDataset``.
    """

    def __init__(
        self,
        images: np.ndarray,
        targets: np.ndarray,
        batch_size: int = 32,
        seed: int = 0,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if len(images) != len(targets) or len(images) == 0:
            raise ConfigError(
                f"SliceDataset needs as many targets as images, at least one; got "
                f"{len(images)} and {len(targets)}."
            )
        if batch_size < 1:
            raise ConfigError(f"batch_size must be >= 1, got {batch_size}.")
        self.images, self.targets = images, targets
        self.batch_size = int(batch_size)
        self.patch_size = list(images.shape[1:3])
        self.seed = seed
        self.epoch = 0

    def __len__(self) -> int:
        return int(np.ceil(len(self.images) / self.batch_size))

    def on_epoch_end(self) -> None:
        self.epoch += 1

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        order = np.random.default_rng([self.seed, int(self.epoch)]).permutation(len(self.images))
        chosen = np.sort(order[index * self.batch_size : (index + 1) * self.batch_size])
        return self.images[chosen], self.targets[chosen]
