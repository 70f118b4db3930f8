"""2D training data from 3D volumes: axial slices, resized, as the original notebook made it.

:func:`volume_slices` cuts a range of axial slices out of a loaded case, keeps some
modalities, scales each slice stack by its maximum, resizes every slice (linear for
images, nearest for labels) and turns BraTS labels 0/1/2/4 into classes 0/1/2/3.
:func:`slices_to_volume` puts per-slice class maps back on the volume grid.
:class:`SliceDataset` serves shuffled batches of slices of many cases as a
``keras.utils.PyDataset``, deterministic per ``(seed, epoch, batch)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
from scipy import ndimage

from unetseg.errors import ConfigError, DataError

__all__ = [
    "SliceDataset",
    "classes_to_labels",
    "labels_to_classes",
    "slices_to_volume",
    "volume_slices",
]

_LABEL_TO_CLASS = {0: 0, 1: 1, 2: 2, 4: 3}


def labels_to_classes(labels: np.ndarray) -> np.ndarray:
    """BraTS labels 0/1/2/4 → consecutive classes 0/1/2/3."""
    labels = np.asarray(labels)
    unknown = set(np.unique(labels).tolist()) - set(_LABEL_TO_CLASS)
    if unknown:
        raise DataError(f"A BraTS label map holds labels {sorted(unknown)}; expected 0, 1, 2, 4.")
    classes = labels.astype(np.uint8).copy()
    classes[labels == 4] = 3
    return classes


def classes_to_labels(classes: np.ndarray) -> np.ndarray:
    """Classes 0/1/2/3 → BraTS labels 0/1/2/4."""
    labels = np.asarray(classes).astype(np.uint8).copy()
    labels[labels == 3] = 4
    return labels


def _resize(stack: np.ndarray, size: Sequence[int], order: int) -> np.ndarray:
    """Resize ``(N, H, W[, C])`` slices to ``size`` (zoom on H and W only)."""
    factors = [1.0, size[0] / stack.shape[1], size[1] / stack.shape[2]]
    factors += [1.0] * (stack.ndim - 3)
    resized = ndimage.zoom(stack, factors, order=order, mode="nearest", grid_mode=True)
    return resized[:, : size[0], : size[1]]


def volume_slices(
    image: np.ndarray,
    label: np.ndarray | None,
    *,
    slice_range: Sequence[int],
    size: Sequence[int],
    channels: Sequence[int],
) -> tuple[np.ndarray, np.ndarray | None]:
    """Axial slices of one case, as the notebook prepared them.

    Args:
        image: ``(H, W, D, C)`` as loaded (not normalised).
        label: ``(H, W, D)`` BraTS labels, or ``None``.
        slice_range: ``(start, stop)`` along the last spatial axis (stop excluded).
        size: The slice size after resizing, ``(h, w)``.
        channels: The modalities kept (indices into C; FLAIR 0, T1ce 2).

    Returns:
        Images ``(n, h, w, len(channels))`` float32 divided by their maximum, and
        one-hot classes ``(n, h, w, 4)`` float32 (or ``None``).
    """
    start, stop = (int(v) for v in slice_range)
    if not 0 <= start < stop <= image.shape[2]:
        raise ConfigError(
            f"slice_range {slice_range} does not fit a volume of {image.shape[2]} slices."
        )
    stack = np.moveaxis(image[:, :, start:stop][..., list(channels)], 2, 0)
    stack = _resize(stack.astype(np.float32), size, order=1)
    peak = float(stack.max())
    stack = stack / peak if peak > 0 else stack
    if label is None:
        return stack.astype(np.float32), None
    classes = labels_to_classes(np.moveaxis(np.asarray(label)[:, :, start:stop], 2, 0))
    classes = _resize(classes, size, order=0)
    one_hot = np.eye(4, dtype=np.float32)[classes]
    return stack.astype(np.float32), one_hot


def slices_to_volume(
    classes: np.ndarray, shape: Sequence[int], slice_range: Sequence[int]
) -> np.ndarray:
    """Per-slice class maps ``(n, h, w)`` → a BraTS label map of ``shape`` (H, W, D).

    Slices are resized back (nearest) and placed at ``slice_range``; slices outside
    it are background, as the notebook never looked at them.
    """
    start, stop = (int(v) for v in slice_range)
    if classes.shape[0] != stop - start:
        raise DataError(f"{classes.shape[0]} slices do not fill slice_range {slice_range}.")
    resized = _resize(np.asarray(classes, dtype=np.uint8), shape[:2], order=0)
    volume = np.zeros(tuple(shape), dtype=np.uint8)
    volume[:, :, start:stop] = np.moveaxis(classes_to_labels(resized), 0, 2)
    return volume


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
