"""Spatial transforms that change the grid: padding, cropping, flips and 90° rotations.

Every crop and pad cuts a *box* out of the spatial grid (see
``unetseg.transforms.geometry``), where the box may reach outside the image
(that part is filled with ``pad_value``). The dictionary forms record each
operation in the key's metadata (``record["<key>_meta"]["applied"]``, see
``unetseg.transforms.metadata``), so :func:`~unetseg.transforms.invert` — and
:meth:`~unetseg.transforms.Compose.inverse` — can map a prediction made on the
transformed grid back onto the original one.

Arrays are channels last, ``(*spatial, C)``; the box and sizes count spatial axes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from unetseg.errors import ConfigError, DataError
from unetseg.transforms.base import (
    MapTransform,
    Randomizable,
    RandomizableTransform,
    Transform,
)
from unetseg.transforms.dictionary import RandArrayTransformd
from unetseg.transforms.geometry import (
    Box,
    box_around,
    centered_box,
    crop_box,
    flip,
    foreground_mask,
    resolve_sizes,
    rot90,
    spatial_shape,
)
from unetseg.transforms.metadata import invert, meta_key, record_operation

__all__ = [
    "CenterSpatialCrop",
    "CenterSpatialCropd",
    "CropForeground",
    "CropForegroundd",
    "Invertd",
    "RandCropByPosNegLabeld",
    "RandFlip",
    "RandFlipd",
    "RandRotate90",
    "RandRotate90d",
    "RandSpatialCrop",
    "RandSpatialCropd",
    "SpatialCrop",
    "SpatialCropd",
    "SpatialPad",
    "SpatialPadd",
]


class Invertd(MapTransform):
    """Map ``keys`` (predictions) back onto the original grid of ``reference``'s operations.

    Args:
        keys: The keys to invert.
        reference: The key whose recorded operations to undo (usually ``"image"``).
        allow_missing_keys: Skip missing keys.
    """

    def __init__(
        self,
        keys: Hashable | Sequence[Hashable],
        reference: Hashable = "image",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.reference = reference

    def __call__(self, record: dict) -> dict:
        result = dict(record)
        meta = result.get(meta_key(self.reference))
        if meta is None:
            raise KeyError(
                f"Invertd: the record has no metadata {meta_key(self.reference)!r} to invert with."
            )
        for key in self.key_iterator(result):
            result[key] = invert(result[key], meta)
        return result


# -- array transforms ----------------------------------------------------------------


class _BoxTransform(Transform):
    """An array transform defined by the box it cuts out; dictionary forms share the box."""

    pad_value: float = 0.0

    def box(self, array: np.ndarray) -> Box:
        raise NotImplementedError

    def __call__(self, array: Any) -> np.ndarray:
        array = np.asarray(array)
        return crop_box(array, self.box(array), self.pad_value)


class SpatialPad(_BoxTransform):
    """Pad each spatial axis to at least ``spatial_size`` with ``value``.

    Args:
        spatial_size: The minimum size per axis (an int for all; ``None`` or -1 keeps).
        method: ``"symmetric"`` (both sides, the extra voxel at the end) or ``"end"``.
        value: The padding value.
    """

    def __init__(
        self,
        spatial_size: int | Sequence[int | None],
        method: str = "symmetric",
        value: float = 0.0,
    ) -> None:
        if method not in ("symmetric", "end"):
            raise ConfigError(f"method must be 'symmetric' or 'end', got {method!r}.")
        self.spatial_size, self.method, self.pad_value = spatial_size, method, float(value)

    def box(self, array: np.ndarray) -> Box:
        spatial = spatial_shape(array, type(self).__name__)
        target = [
            max(s, n)
            for s, n in zip(
                resolve_sizes(self.spatial_size, spatial, "spatial_size"), spatial, strict=True
            )
        ]
        if self.method == "end":
            return [(0, t) for t in target]
        return [
            (-((t - n) // 2), n + (t - n) - (t - n) // 2)
            for t, n in zip(target, spatial, strict=True)
        ]


class CenterSpatialCrop(_BoxTransform):
    """Cut a ``roi_size`` box out of the centre (padding axes that are smaller).

    Args:
        roi_size: The size per axis (an int for all; ``None`` or -1 keeps the axis).
    """

    def __init__(self, roi_size: int | Sequence[int | None]) -> None:
        self.roi_size = roi_size

    def box(self, array: np.ndarray) -> Box:
        spatial = spatial_shape(array, type(self).__name__)
        return centered_box(spatial, resolve_sizes(self.roi_size, spatial, "roi_size"))


class SpatialCrop(_BoxTransform):
    """Cut a given box: ``roi_start``/``roi_end``, or ``roi_center``/``roi_size``.

    Args:
        roi_start: First voxel per axis.
        roi_end: One past the last voxel per axis.
        roi_center: Centre voxel per axis (with ``roi_size``).
        roi_size: Size per axis (with ``roi_center``).
    """

    def __init__(
        self,
        roi_start: Sequence[int] | None = None,
        roi_end: Sequence[int] | None = None,
        roi_center: Sequence[int] | None = None,
        roi_size: Sequence[int] | None = None,
    ) -> None:
        if roi_start is not None and roi_end is not None:
            starts, ends = list(roi_start), list(roi_end)
        elif roi_center is not None and roi_size is not None:
            starts = [c - s // 2 for c, s in zip(roi_center, roi_size, strict=True)]
            ends = [a + s for a, s in zip(starts, roi_size, strict=True)]
        else:
            raise ConfigError(
                "SpatialCrop needs roi_start and roi_end, or roi_center and roi_size."
            )
        if len(starts) != len(ends) or any(b <= a for a, b in zip(starts, ends, strict=True)):
            raise ConfigError(
                f"roi_end must exceed roi_start on every axis, got {starts} and {ends}."
            )
        self.roi = [(int(a), int(b)) for a, b in zip(starts, ends, strict=True)]

    def box(self, array: np.ndarray) -> Box:
        spatial = spatial_shape(array, type(self).__name__)
        if len(self.roi) != len(spatial):
            raise DataError(
                f"SpatialCrop has a {len(self.roi)}D box for an array of shape {array.shape}."
            )
        return list(self.roi)


class CropForeground(_BoxTransform):
    """Cut the bounding box of the foreground, with a margin, optionally to a multiple of k.

    Args:
        select_fn: Voxels of the (source) array that count as foreground, from the
            whole array to a boolean array of its spatial shape; by default any channel
            above 0, which for a skull-stripped MRI is the brain.
        margin: Voxels added on each side (an int, or one per axis).
        k_divisible: Grow the box (around its centre) to a multiple of this per axis;
            parts beyond the image are padded.

    An array without foreground is returned whole.
    """

    def __init__(
        self,
        select_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        margin: int | Sequence[int] = 0,
        k_divisible: int | Sequence[int] = 1,
    ) -> None:
        self.select_fn = select_fn
        self.margin = margin
        self.k_divisible = k_divisible

    def box(self, array: np.ndarray) -> Box:
        spatial = spatial_shape(array, type(self).__name__)
        dims = len(spatial)
        mask = self.select_fn(array) if self.select_fn is not None else foreground_mask(array)
        if tuple(mask.shape) != tuple(spatial):
            raise DataError(f"select_fn returned shape {mask.shape} for spatial shape {spatial}.")
        margins = [self.margin] * dims if isinstance(self.margin, int) else list(self.margin)
        divisors = (
            [self.k_divisible] * dims
            if isinstance(self.k_divisible, int)
            else list(self.k_divisible)
        )
        if len(margins) != dims or len(divisors) != dims or min(divisors) < 1 or min(margins) < 0:
            raise ConfigError(
                f"margin and k_divisible need {dims} values (margins >= 0, divisors >= 1); got "
                f"{self.margin!r} and {self.k_divisible!r}."
            )
        if not mask.any():
            starts, stops = [0] * dims, list(spatial)
        else:
            starts, stops = [], []
            for axis in range(dims):
                present = np.flatnonzero(mask.any(axis=tuple(a for a in range(dims) if a != axis)))
                starts.append(max(int(present[0]) - margins[axis], 0))
                stops.append(min(int(present[-1]) + 1 + margins[axis], spatial[axis]))
        box = []
        for start, stop, k in zip(starts, stops, divisors, strict=True):
            size = stop - start
            grown = -(-size // k) * k
            start -= (grown - size) // 2
            box.append((start, start + grown))
        return box


class RandSpatialCrop(Randomizable, _BoxTransform):
    """Cut a ``roi_size`` box at a random position; axes smaller than it are padded.

    Args:
        roi_size: The size per axis (an int for all; ``None`` or -1 keeps the axis).
    """

    def __init__(self, roi_size: int | Sequence[int | None]) -> None:
        super().__init__()
        self.roi_size = roi_size

    def box(self, array: np.ndarray) -> Box:
        spatial = spatial_shape(array, type(self).__name__)
        size = resolve_sizes(self.roi_size, spatial, "roi_size")
        box = []
        for n, s in zip(spatial, size, strict=True):
            start = int(self.rng.integers(0, n - s + 1)) if n > s else -((s - n) // 2)
            box.append((start, start + s))
        return box


# -- dictionary transforms -----------------------------------------------------------


class _BoxTransformd(MapTransform):
    """Apply one box to every key (the box is computed from ``source_key`` or the first key)."""

    def __init__(
        self,
        keys: Hashable | Sequence[Hashable],
        transform: _BoxTransform,
        source_key: Hashable | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.transform = transform
        self.source_key = source_key

    def __call__(self, record: dict) -> dict:
        result = dict(record)
        keys = list(self.key_iterator(result))
        if not keys:
            return result
        source = self.source_key if self.source_key is not None else keys[0]
        if source not in result:
            raise KeyError(f"{type(self).__name__}: the record has no source key {source!r}.")
        reference = np.asarray(result[source])
        box = self.transform.box(reference)
        for key in keys:
            array = np.asarray(result[key])
            if array.shape[:-1] != reference.shape[:-1]:
                raise DataError(
                    f"{type(self).__name__}: key {key!r} has spatial shape {array.shape[:-1]} "
                    f"but {source!r} has {reference.shape[:-1]}; they must share one grid."
                )
            result[key] = crop_box(array, box, self.transform.pad_value)
            record_operation(
                result, key, {"kind": "crop", "box": box, "shape": list(array.shape[:-1])}
            )
        return result


class SpatialPadd(_BoxTransformd):
    """Dictionary form of :class:`SpatialPad`.

    Args:
        keys: The keys to pad.
        spatial_size: See :class:`SpatialPad`.
        method: See :class:`SpatialPad`.
        value: See :class:`SpatialPad`.
        allow_missing_keys: Skip missing keys.
    """

    def __init__(
        self,
        keys: Any,
        spatial_size: Any,
        method: str = "symmetric",
        value: float = 0.0,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, SpatialPad(spatial_size, method, value), None, allow_missing_keys)


class CenterSpatialCropd(_BoxTransformd):
    """Dictionary form of :class:`CenterSpatialCrop`.

    Args:
        keys: The keys to crop.
        roi_size: See :class:`CenterSpatialCrop`.
        allow_missing_keys: Skip missing keys.
    """

    def __init__(self, keys: Any, roi_size: Any, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, CenterSpatialCrop(roi_size), None, allow_missing_keys)


class SpatialCropd(_BoxTransformd):
    """Dictionary form of :class:`SpatialCrop`.

    Args:
        keys: The keys to crop.
        allow_missing_keys: Skip missing keys.
        **roi: The box, as the arguments of :class:`SpatialCrop` (``roi_start`` and
            ``roi_end``, or ``roi_center`` and ``roi_size``).
    """

    def __init__(self, keys: Any, allow_missing_keys: bool = False, **roi: Any) -> None:
        super().__init__(keys, SpatialCrop(**roi), None, allow_missing_keys)


class CropForegroundd(_BoxTransformd):
    """Dictionary form of :class:`CropForeground`: the box comes from ``source_key``.

    Args:
        keys: The keys to crop (image and label).
        source_key: The key whose foreground defines the box (usually ``"image"``).
        select_fn: See :class:`CropForeground`.
        margin: See :class:`CropForeground`.
        k_divisible: See :class:`CropForeground`.
        allow_missing_keys: Skip missing keys.
    """

    def __init__(
        self,
        keys: Any,
        source_key: Hashable = "image",
        select_fn: Callable[[np.ndarray], np.ndarray] | None = None,
        margin: int | Sequence[int] = 0,
        k_divisible: int | Sequence[int] = 1,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(
            keys, CropForeground(select_fn, margin, k_divisible), source_key, allow_missing_keys
        )


class RandSpatialCropd(Randomizable, _BoxTransformd):
    """Cut a ``roi_size`` box at a random position (the same for every key).

    An image smaller than ``roi_size`` on an axis is padded there.

    Args:
        keys: The keys to crop.
        roi_size: The size per axis.
        allow_missing_keys: Skip missing keys.
    """

    def __init__(
        self, keys: Any, roi_size: int | Sequence[int], allow_missing_keys: bool = False
    ) -> None:
        _BoxTransformd.__init__(self, keys, RandSpatialCrop(roi_size), None, allow_missing_keys)
        Randomizable.__init__(self)
        self.transform.set_random_state(rng=self.rng)

    def set_random_state(
        self, seed: int | None = None, rng: np.random.Generator | None = None
    ) -> RandSpatialCropd:
        super().set_random_state(seed, rng)
        self.transform.set_random_state(rng=self.rng)
        return self


class RandCropByPosNegLabeld(Randomizable, MapTransform):
    """Sample ``num_samples`` patches centred on foreground or background voxels.

    A patch is centred on a foreground voxel of ``label_key`` (any channel > 0) with
    probability ``pos / (pos + neg)``, otherwise on a background voxel — inside the
    image (``image_key`` above ``image_threshold``) when ``image_key`` is given.
    Centres are moved so that patches stay inside the image where it is large
    enough. This is how nnU-Net keeps small tumours in view.

    Args:
        keys: The keys to crop.
        label_key: The key whose foreground defines positive centres.
        spatial_size: The patch size per axis.
        pos: Relative weight of foreground centres.
        neg: Relative weight of background centres.
        num_samples: Patches per record; the transform returns a list of records.
        image_key: Restrict background centres to where this key exceeds
            ``image_threshold`` (any channel).
        image_threshold: See ``image_key``.
        allow_missing_keys: Skip missing keys.
    """

    def __init__(
        self,
        keys: Any,
        label_key: Hashable,
        spatial_size: int | Sequence[int],
        pos: float = 1.0,
        neg: float = 1.0,
        num_samples: int = 1,
        image_key: Hashable | None = None,
        image_threshold: float = 0.0,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        Randomizable.__init__(self)
        if pos < 0 or neg < 0 or pos + neg == 0:
            raise ConfigError(f"pos and neg must be >= 0 and not both 0, got {pos} and {neg}.")
        if not isinstance(num_samples, int) or num_samples < 1:
            raise ConfigError(f"num_samples must be a positive integer, got {num_samples!r}.")
        self.label_key, self.spatial_size = label_key, spatial_size
        self.pos_ratio = pos / (pos + neg)
        self.num_samples = num_samples
        self.image_key, self.image_threshold = image_key, image_threshold

    def _centres(self, record: dict) -> tuple[list[np.ndarray], tuple[int, ...], list[int]]:
        if self.label_key not in record:
            raise KeyError(
                f"RandCropByPosNegLabeld: the record has no label key {self.label_key!r}."
            )
        label = np.asarray(record[self.label_key])
        spatial = spatial_shape(label, type(self).__name__)
        size = resolve_sizes(self.spatial_size, spatial, "spatial_size")
        foreground = foreground_mask(label)
        background = ~foreground
        if self.image_key is not None:
            background &= (np.asarray(record[self.image_key]) > self.image_threshold).any(axis=-1)
        positives, negatives = np.flatnonzero(foreground), np.flatnonzero(background)
        centres = []
        for _ in range(self.num_samples):
            want_positive = self.rng.random() < self.pos_ratio
            pool = (
                positives if (want_positive and positives.size) or not negatives.size else negatives
            )
            if pool.size == 0:
                raise DataError(
                    f"RandCropByPosNegLabeld found no voxel to centre a patch on in "
                    f"{self.label_key!r} (shape {label.shape})."
                )
            centres.append(np.array(np.unravel_index(pool[self.rng.integers(pool.size)], spatial)))
        return centres, spatial, size

    def __call__(self, record: dict) -> list[dict]:
        keys = list(self.key_iterator(record))
        centres, spatial, size = self._centres(record)
        samples = []
        for index, centre in enumerate(centres):
            box = box_around(centre, spatial, size)
            sample = dict(record)
            sample["patch_index"] = index
            for key in keys:
                array = np.asarray(record[key])
                sample[key] = crop_box(array, box)
                record_operation(sample, key, {"kind": "crop", "box": box, "shape": list(spatial)})
            samples.append(sample)
        return samples


class RandFlip(RandomizableTransform):
    """Flip the spatial axes ``spatial_axis`` (all listed together) with probability ``prob``.

    Args:
        prob: Probability of flipping.
        spatial_axis: An axis or a list of axes; ``None`` for all spatial axes.

    Example:
        >>> RandFlip(prob=1.0, spatial_axis=0)(np.arange(3).reshape(3, 1))[:, 0]
        array([2, 1, 0])
    """

    def __init__(self, prob: float = 0.5, spatial_axis: int | Sequence[int] | None = None) -> None:
        super().__init__(prob)
        self.spatial_axis = [spatial_axis] if isinstance(spatial_axis, int) else spatial_axis

    def axes(self, array: np.ndarray) -> list[int]:
        """The axes to flip for ``array``, checked against its dimension."""
        dims = array.ndim - 1
        axes = list(range(dims)) if self.spatial_axis is None else list(self.spatial_axis)
        if any(not 0 <= a < dims for a in axes):
            raise ConfigError(f"spatial_axis {axes} is out of range for {dims} spatial axes.")
        return axes

    def __call__(self, array: Any, randomize: bool = True) -> np.ndarray:
        array = np.asarray(array)
        if randomize:
            self.randomize(array)
        return flip(array, self.axes(array)) if self._do_transform else array


class RandRotate90(RandomizableTransform):
    """Rotate by ``k × 90°`` in the plane of ``spatial_axes``, ``k`` drawn from 1..``max_k``.

    Args:
        prob: Probability of rotating.
        max_k: The largest number of quarter turns.
        spatial_axes: The two axes of the rotation plane.
    """

    def __init__(
        self, prob: float = 0.1, max_k: int = 3, spatial_axes: tuple[int, int] = (0, 1)
    ) -> None:
        super().__init__(prob)
        if not isinstance(max_k, int) or max_k < 1:
            raise ConfigError(f"max_k must be a positive integer, got {max_k!r}.")
        if len(spatial_axes) != 2 or spatial_axes[0] == spatial_axes[1]:
            raise ConfigError(f"spatial_axes must be two different axes, got {spatial_axes!r}.")
        self.max_k, self.spatial_axes = max_k, tuple(spatial_axes)
        self._k = 0

    def randomize(self, data: Any = None) -> None:
        super().randomize(data)
        self._k = int(self.rng.integers(1, self.max_k + 1)) if self._do_transform else 0

    def draw(self) -> int:
        """Draw this call's number of quarter turns (0 when the transform does not act)."""
        self.randomize()
        return self._k

    def rotate(self, array: np.ndarray, k: int) -> np.ndarray:
        """``array`` turned ``k`` quarter turns in the plane of ``spatial_axes``."""
        if max(self.spatial_axes) >= array.ndim - 1:
            raise ConfigError(
                f"spatial_axes {self.spatial_axes} is out of range for shape {array.shape}."
            )
        return rot90(array, k, self.spatial_axes)

    def __call__(self, array: Any, randomize: bool = True) -> np.ndarray:
        array = np.asarray(array)
        if randomize:
            self.randomize(array)
        return self.rotate(array, self._k) if self._k else array


class _RecordedRandd(RandArrayTransformd):
    """A random spatial dictionary form: one draw per call for every key, and each
    key's operation recorded for inversion when the transform acted."""

    transform: RandomizableTransform

    @property
    def prob(self) -> float:
        """The probability of acting (the array transform's)."""
        return self.transform.prob

    def __call__(self, record: dict) -> dict:
        result = super().__call__(record)
        if self.transform._do_transform:
            for key in self.key_iterator(result):
                record_operation(result, key, self.operation(np.asarray(result[key])))
        return result

    def operation(self, array: np.ndarray) -> dict[str, Any]:
        """The recorded operation of this call on ``array`` (see ``transforms.metadata``)."""
        raise NotImplementedError


class RandFlipd(_RecordedRandd):
    """Dictionary form of :class:`RandFlip`: one draw for every key, recorded for inversion.

    For nnU-Net's independent mirroring per axis, use one ``RandFlipd`` per axis.

    Args:
        keys: The keys to flip.
        prob: Probability of flipping.
        spatial_axis: An axis or a list of axes; ``None`` for all spatial axes.
        allow_missing_keys: Skip missing keys.
    """

    array_transform = RandFlip
    transform: RandFlip

    def __init__(
        self,
        keys: Any,
        prob: float = 0.5,
        spatial_axis: int | Sequence[int] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys, prob=prob, spatial_axis=spatial_axis)

    def operation(self, array: np.ndarray) -> dict[str, Any]:
        return {"kind": "flip", "axes": self.transform.axes(array)}


class RandRotate90d(_RecordedRandd):
    """Dictionary form of :class:`RandRotate90`: one draw for every key, recorded for inversion.

    Args:
        keys: The keys to rotate.
        prob: Probability of rotating.
        max_k: The largest number of quarter turns.
        spatial_axes: The two axes of the rotation plane.
        allow_missing_keys: Skip missing keys.
    """

    array_transform = RandRotate90
    transform: RandRotate90

    def __init__(
        self,
        keys: Any,
        prob: float = 0.1,
        max_k: int = 3,
        spatial_axes: tuple[int, int] = (0, 1),
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(
            keys, allow_missing_keys, prob=prob, max_k=max_k, spatial_axes=spatial_axes
        )

    def operation(self, array: np.ndarray) -> dict[str, Any]:
        axes = list(self.transform.spatial_axes)
        return {"kind": "rot90", "k": self.transform._k, "axes": axes}
