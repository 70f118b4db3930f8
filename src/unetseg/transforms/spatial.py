"""Spatial transforms that change the grid: padding, cropping, flips and 90° rotations.

Every crop and pad is one operation: cutting a *box* out of the spatial grid,
where the box may reach outside the image (that part is filled with
``pad_value``). The dictionary forms record each operation in the key's metadata
(``record["<key>_meta"]["applied"]``), so :func:`invert` — and
:meth:`~unetseg.transforms.Compose.inverse` — can map a prediction made on the
transformed grid back onto the original one.

Arrays are channels last, ``(*spatial, C)``; the box and sizes count spatial axes.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Sequence
from typing import Any

import numpy as np

from unetseg.errors import ConfigError, DataError
from unetseg.transforms.base import MapTransform, Randomizable, Transform, check_probability
from unetseg.transforms.io import meta_key

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
    "box_around",
    "crop_box",
    "invert",
    "uncrop_box",
]

Box = list[tuple[int, int]]


# -- the operations and their inverses -----------------------------------------------


def _spatial_shape(array: np.ndarray, owner: str) -> tuple[int, ...]:
    if array.ndim < 2:
        raise DataError(f"{owner} expects a channels-last array (*spatial, C), got {array.shape}.")
    return array.shape[:-1]


def crop_box(
    array: np.ndarray, box: Sequence[tuple[int, int]], pad_value: float = 0.0
) -> np.ndarray:
    """Cut ``box`` (``[(start, stop), ...]`` per spatial axis) out of ``array``.

    Parts of the box outside the array are filled with ``pad_value``. Inside the
    array this is a view-free copy of exactly the box.
    """
    spatial = array.shape[:-1]
    if len(box) != len(spatial):
        raise DataError(f"A box of {len(box)} axes does not fit an array of shape {array.shape}.")
    parts = [_overlap(a, b, n) for (a, b), n in zip(box, spatial, strict=True)]
    part = array[(*(slice(lo, hi) for lo, hi, _, _ in parts), slice(None))]
    padding = [(before, after) for _, _, before, after in parts]
    if any(before or after for before, after in padding):
        return np.pad(part, [*padding, (0, 0)], mode="constant", constant_values=pad_value)
    return part.copy()


def _overlap(start: int, stop: int, size: int) -> tuple[int, int, int, int]:
    """Where box ``[start, stop)`` meets ``[0, size)``: ``(lo, hi, before, after)``.

    ``[lo, hi)`` is the part inside the array (possibly empty); ``before`` and
    ``after`` count the box voxels outside it on either side.
    """
    lo = min(max(start, 0), size)
    hi = min(max(stop, lo), size)
    before = min(max(lo - start, 0), stop - start)
    after = (stop - start) - before - (hi - lo)
    return lo, hi, before, after


def uncrop_box(
    array: np.ndarray,
    box: Sequence[tuple[int, int]],
    original_shape: Sequence[int],
    fill_value: float = 0.0,
) -> np.ndarray:
    """Put a cropped ``array`` back at ``box`` on a grid of ``original_shape`` (the inverse)."""
    expected = tuple(b - a for a, b in box)
    if tuple(array.shape[:-1]) != expected:
        raise DataError(
            f"Cannot undo a crop of size {expected}: the array has spatial shape "
            f"{array.shape[:-1]}."
        )
    result = np.full((*original_shape, array.shape[-1]), fill_value, dtype=array.dtype)
    parts = [_overlap(a, b, n) for (a, b), n in zip(box, original_shape, strict=True)]
    target = tuple(slice(lo, hi) for lo, hi, _, _ in parts)
    source = tuple(slice(before, before + hi - lo) for lo, hi, before, _ in parts)
    result[(*target, slice(None))] = array[(*source, slice(None))]
    return result


def _flip(array: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    return np.flip(array, axis=tuple(axes)).copy() if axes else array


def _rot90(array: np.ndarray, k: int, axes: tuple[int, int]) -> np.ndarray:
    return np.rot90(array, k=k, axes=axes).copy()


def _inverse_operation(array: np.ndarray, operation: dict[str, Any]) -> np.ndarray:
    kind = operation["kind"]
    if kind == "crop":
        return uncrop_box(array, operation["box"], operation["shape"])
    if kind == "flip":
        return _flip(array, operation["axes"])
    if kind == "rot90":
        return _rot90(array, -operation["k"], tuple(operation["axes"]))
    if kind == "resample":
        from unetseg.transforms.resample import resample_to_shape

        return resample_to_shape(array, operation["shape"], operation["order"])
    raise DataError(f"Unknown recorded operation {kind!r}; the record's metadata is corrupt.")


def _record_operation(record: dict, key: Hashable, operation: dict[str, Any]) -> None:
    """Append ``operation`` to the key's metadata (copied, never shared between records)."""
    meta = dict(record.get(meta_key(key)) or {})
    meta["applied"] = [*meta.get("applied", []), operation]
    record[meta_key(key)] = meta


def invert(array: Any, meta: dict[str, Any]) -> np.ndarray:
    """Undo the recorded spatial operations of ``meta`` on ``array``, newest first.

    Args:
        array: Data on the transformed grid, such as a prediction, ``(*spatial, C)``.
        meta: The metadata of the key the operations were recorded for.

    Returns:
        The array on the original grid (cropped-away parts filled with 0).
    """
    result = np.asarray(array)
    for operation in reversed(meta.get("applied", [])):
        result = _inverse_operation(result, operation)
    return result


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


# -- sizes and boxes -----------------------------------------------------------------


def _sizes(size: int | Sequence[int | None], spatial: Sequence[int], what: str) -> list[int]:
    """Resolve a requested size per axis; ``None`` or -1 keeps the image's size."""
    if isinstance(size, int):
        size = [size] * len(spatial)
    size = list(size)
    if len(size) != len(spatial):
        raise ConfigError(
            f"{what} has {len(size)} entries for an image with {len(spatial)} spatial axes."
        )
    resolved = []
    for requested, actual in zip(size, spatial, strict=True):
        if requested is None or requested == -1:
            resolved.append(actual)
        elif isinstance(requested, int) and requested > 0:
            resolved.append(requested)
        else:
            raise ConfigError(f"{what} entries must be positive ints, None or -1; got {size!r}.")
    return resolved


def box_around(centre: Sequence[int], spatial: Sequence[int], size: Sequence[int]) -> Box:
    """A ``size`` box centred on ``centre``, moved inside the image where it fits.

    Axes where the image is smaller than the box keep it centred (and padded).
    """
    box = []
    for c, n, s in zip(centre, spatial, size, strict=True):
        start = int(c) - s // 2
        if n >= s:
            start = min(max(start, 0), n - s)
        box.append((start, start + s))
    return box


def _centered_box(spatial: Sequence[int], size: Sequence[int]) -> Box:
    return [((n - s) // 2, (n - s) // 2 + s) for n, s in zip(spatial, size, strict=True)]


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
        spatial = _spatial_shape(array, type(self).__name__)
        target = [
            max(s, n)
            for s, n in zip(
                _sizes(self.spatial_size, spatial, "spatial_size"), spatial, strict=True
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
        spatial = _spatial_shape(array, type(self).__name__)
        return _centered_box(spatial, _sizes(self.roi_size, spatial, "roi_size"))


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
        spatial = _spatial_shape(array, type(self).__name__)
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
        spatial = _spatial_shape(array, type(self).__name__)
        dims = len(spatial)
        mask = self.select_fn(array) if self.select_fn is not None else _any_channel_positive(array)
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


def _any_channel_positive(array: np.ndarray) -> np.ndarray:
    """``(array > 0).any(axis=-1)``, a channel at a time (several times faster)."""
    mask = array[..., 0] > 0
    for channel in range(1, array.shape[-1]):
        mask |= array[..., channel] > 0
    return mask


class RandSpatialCrop(Randomizable, _BoxTransform):
    """Cut a ``roi_size`` box at a random position; axes smaller than it are padded.

    Args:
        roi_size: The size per axis (an int for all; ``None`` or -1 keeps the axis).
    """

    def __init__(self, roi_size: int | Sequence[int | None]) -> None:
        super().__init__()
        self.roi_size = roi_size

    def box(self, array: np.ndarray) -> Box:
        spatial = _spatial_shape(array, type(self).__name__)
        size = _sizes(self.roi_size, spatial, "roi_size")
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
            _record_operation(
                result, key, {"kind": "crop", "box": box, "shape": list(array.shape[:-1])}
            )
        return result


class SpatialPadd(_BoxTransformd):
    """Dictionary form of :class:`SpatialPad`."""

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
    """Dictionary form of :class:`CenterSpatialCrop`."""

    def __init__(self, keys: Any, roi_size: Any, allow_missing_keys: bool = False) -> None:
        super().__init__(keys, CenterSpatialCrop(roi_size), None, allow_missing_keys)


class SpatialCropd(_BoxTransformd):
    """Dictionary form of :class:`SpatialCrop`."""

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
        spatial = _spatial_shape(label, type(self).__name__)
        size = _sizes(self.spatial_size, spatial, "spatial_size")
        foreground = _any_channel_positive(label)
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
                _record_operation(sample, key, {"kind": "crop", "box": box, "shape": list(spatial)})
            samples.append(sample)
        return samples


class RandFlip(Randomizable, Transform):
    """Flip the spatial axes ``spatial_axis`` (all listed together) with probability ``prob``.

    Args:
        prob: Probability of flipping.
        spatial_axis: An axis or a list of axes; ``None`` for all spatial axes.
    """

    def __init__(self, prob: float = 0.5, spatial_axis: int | Sequence[int] | None = None) -> None:
        super().__init__()
        self.prob = check_probability(prob)
        self.spatial_axis = [spatial_axis] if isinstance(spatial_axis, int) else spatial_axis

    def axes(self, array: np.ndarray) -> list[int]:
        """The axes to flip for ``array``, checked against its dimension."""
        dims = array.ndim - 1
        axes = list(range(dims)) if self.spatial_axis is None else list(self.spatial_axis)
        if any(not 0 <= a < dims for a in axes):
            raise ConfigError(f"spatial_axis {axes} is out of range for {dims} spatial axes.")
        return axes

    def __call__(self, array: Any) -> np.ndarray:
        array = np.asarray(array)
        if self.rng.random() >= self.prob:
            return array
        return _flip(array, self.axes(array))


class RandRotate90(Randomizable, Transform):
    """Rotate by ``k × 90°`` in the plane of ``spatial_axes``, ``k`` drawn from 1..``max_k``.

    Args:
        prob: Probability of rotating.
        max_k: The largest number of quarter turns.
        spatial_axes: The two axes of the rotation plane.
    """

    def __init__(
        self, prob: float = 0.1, max_k: int = 3, spatial_axes: tuple[int, int] = (0, 1)
    ) -> None:
        super().__init__()
        self.prob = check_probability(prob)
        if not isinstance(max_k, int) or max_k < 1:
            raise ConfigError(f"max_k must be a positive integer, got {max_k!r}.")
        if len(spatial_axes) != 2 or spatial_axes[0] == spatial_axes[1]:
            raise ConfigError(f"spatial_axes must be two different axes, got {spatial_axes!r}.")
        self.max_k, self.spatial_axes = max_k, tuple(spatial_axes)

    def draw(self) -> int:
        """Draw this call's number of quarter turns (0 when the transform does not act)."""
        if self.rng.random() >= self.prob:
            return 0
        return int(self.rng.integers(1, self.max_k + 1))

    def rotate(self, array: np.ndarray, k: int) -> np.ndarray:
        if max(self.spatial_axes) >= array.ndim - 1:
            raise ConfigError(
                f"spatial_axes {self.spatial_axes} is out of range for shape {array.shape}."
            )
        return _rot90(array, k, self.spatial_axes)

    def __call__(self, array: Any) -> np.ndarray:
        array = np.asarray(array)
        k = self.draw()
        return self.rotate(array, k) if k else array


class RandFlipd(Randomizable, MapTransform):
    """Dictionary form of :class:`RandFlip`: one draw for every key, recorded for inversion.

    For nnU-Net's independent mirroring per axis, use one ``RandFlipd`` per axis.

    Args:
        keys: The keys to flip.
        prob: Probability of flipping.
        spatial_axis: An axis or a list of axes; ``None`` for all spatial axes.
        allow_missing_keys: Skip missing keys.
    """

    def __init__(
        self,
        keys: Any,
        prob: float = 0.5,
        spatial_axis: int | Sequence[int] | None = None,
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        Randomizable.__init__(self)
        self.flip = RandFlip(prob, spatial_axis)

    def __call__(self, record: dict) -> dict:
        result = dict(record)
        keys = list(self.key_iterator(result))
        if not keys or self.rng.random() >= self.flip.prob:
            return result
        for key in keys:
            array = np.asarray(result[key])
            axes = self.flip.axes(array)
            result[key] = _flip(array, axes)
            _record_operation(result, key, {"kind": "flip", "axes": axes})
        return result


class RandRotate90d(Randomizable, MapTransform):
    """Dictionary form of :class:`RandRotate90`: one draw for every key, recorded for inversion.

    Args:
        keys: The keys to rotate.
        prob: Probability of rotating.
        max_k: The largest number of quarter turns.
        spatial_axes: The two axes of the rotation plane.
        allow_missing_keys: Skip missing keys.
    """

    def __init__(
        self,
        keys: Any,
        prob: float = 0.1,
        max_k: int = 3,
        spatial_axes: tuple[int, int] = (0, 1),
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        Randomizable.__init__(self)
        self.rotation = RandRotate90(prob, max_k, spatial_axes)
        self.rotation.set_random_state(rng=self.rng)

    def set_random_state(
        self, seed: int | None = None, rng: np.random.Generator | None = None
    ) -> RandRotate90d:
        super().set_random_state(seed, rng)
        self.rotation.set_random_state(rng=self.rng)
        return self

    def __call__(self, record: dict) -> dict:
        result = dict(record)
        keys = list(self.key_iterator(result))
        k = self.rotation.draw() if keys else 0
        if not k:
            return result
        for key in keys:
            result[key] = self.rotation.rotate(np.asarray(result[key]), k)
            axes = list(self.rotation.spatial_axes)
            _record_operation(result, key, {"kind": "rot90", "k": k, "axes": axes})
        return result
