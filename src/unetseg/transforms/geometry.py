"""The geometry under the spatial transforms: boxes, sizes, flips, rotations, resampling.

Pure functions on channels-last NumPy arrays ``(*spatial, C)``; boxes and sizes count
spatial axes only. Every crop and pad is one operation, cutting a *box* out of the
spatial grid, where the box may reach outside the image (that part is filled with a
pad value); :func:`uncrop_box` is its inverse. Resampling interpolates channel by
channel with :func:`scipy.ndimage.affine_transform` (order 1 for images, 0 for labels).

This module knows nothing of records, metadata or transforms: the spatial and
resampling transforms are built on it, and ``unetseg.transforms.metadata`` uses it
to undo them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
from scipy import ndimage

from unetseg.errors import ConfigError, DataError

__all__ = [
    "Box",
    "any_channel",
    "box_around",
    "centered_box",
    "crop_box",
    "flip",
    "foreground_mask",
    "place_slices",
    "resample_to_shape",
    "resize_slices",
    "resolve_sizes",
    "rot90",
    "rotation_matrix",
    "slice_range_bounds",
    "spatial_shape",
    "transform_channels",
    "uncrop_box",
]

#: ``[(start, stop), ...]``, one half-open interval per spatial axis.
Box = list[tuple[int, int]]


def spatial_shape(array: np.ndarray, owner: str) -> tuple[int, ...]:
    """The spatial shape of a channels-last array, refusing arrays without a channel axis."""
    if array.ndim < 2:
        raise DataError(f"{owner} expects a channels-last array (*spatial, C), got {array.shape}.")
    return array.shape[:-1]


def resolve_sizes(size: int | Sequence[int | None], spatial: Sequence[int], what: str) -> list[int]:
    """Resolve a requested size per axis; ``None`` or -1 keeps the image's size.

    Example:
        >>> resolve_sizes([16, None, -1], (40, 30, 20), "roi_size")
        [16, 30, 20]
    """
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


# -- boxes ---------------------------------------------------------------------------


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


def crop_box(
    array: np.ndarray, box: Sequence[tuple[int, int]], pad_value: float = 0.0
) -> np.ndarray:
    """Cut ``box`` (``[(start, stop), ...]`` per spatial axis) out of ``array``.

    Parts of the box outside the array are filled with ``pad_value``. Inside the
    array this is a view-free copy of exactly the box.

    Args:
        array: A channels-last array, ``(*spatial, C)``.
        box: ``(start, stop)`` per spatial axis; it may reach outside the array.
        pad_value: The value of the box's voxels outside the array.

    Example:
        >>> crop_box(np.arange(4).reshape(4, 1), [(2, 6)])[:, 0]
        array([2, 3, 0, 0])
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


def uncrop_box(
    array: np.ndarray,
    box: Sequence[tuple[int, int]],
    original_shape: Sequence[int],
    fill_value: float = 0.0,
) -> np.ndarray:
    """Put a cropped ``array`` back at ``box`` on a grid of ``original_shape`` (the inverse).

    Args:
        array: The cropped array, ``(*spatial, C)`` with the box's spatial size.
        box: The box it was cut from, ``(start, stop)`` per spatial axis.
        original_shape: The spatial shape of the grid before the crop.
        fill_value: The value of the voxels outside the box.

    Example:
        >>> uncrop_box(np.array([[2], [3], [0], [0]]), [(2, 6)], (4,))[:, 0]
        array([0, 0, 2, 3])
    """
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


def box_around(centre: Sequence[int], spatial: Sequence[int], size: Sequence[int]) -> Box:
    """A ``size`` box centred on ``centre``, moved inside the image where it fits.

    Axes where the image is smaller than the box keep it centred (and padded).

    Example:
        >>> box_around((1, 9), (10, 10), (4, 4))
        [(0, 4), (6, 10)]
    """
    box = []
    for c, n, s in zip(centre, spatial, size, strict=True):
        start = int(c) - s // 2
        if n >= s:
            start = min(max(start, 0), n - s)
        box.append((start, start + s))
    return box


def centered_box(spatial: Sequence[int], size: Sequence[int]) -> Box:
    """The ``size`` box in the centre of ``spatial`` (reaching outside where larger)."""
    return [((n - s) // 2, (n - s) // 2 + s) for n, s in zip(spatial, size, strict=True)]


def any_channel(array: np.ndarray, predicate: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    """``predicate(array).any(axis=-1)`` of a channels-last array, a channel at a time:
    several times faster than NumPy's reduction along a short last axis (4× for the
    four channels of a BraTS case).

    Example:
        >>> any_channel(np.array([[0.0, 0.0], [0.0, -1.0]]), lambda values: values != 0)
        array([False,  True])
    """
    if array.shape[-1] == 0:
        return np.zeros(array.shape[:-1], dtype=bool)
    mask = np.array(predicate(array[..., 0]), dtype=bool, copy=True)  # never the input
    for channel in range(1, array.shape[-1]):
        mask |= predicate(array[..., channel])
    return mask


def foreground_mask(array: np.ndarray) -> np.ndarray:
    """``(array > 0).any(axis=-1)``, a channel at a time (several times faster)."""
    return any_channel(array, lambda values: values > 0)


# -- flips and quarter turns -----------------------------------------------------------


def flip(array: np.ndarray, axes: Sequence[int]) -> np.ndarray:
    """``array`` mirrored along the spatial ``axes`` (a copy; ``array`` itself for none)."""
    return np.flip(array, axis=tuple(axes)).copy() if axes else array


def rot90(array: np.ndarray, k: int, axes: Sequence[int]) -> np.ndarray:
    """``array`` turned ``k`` quarter turns in the plane of ``axes`` (a copy)."""
    return np.rot90(array, k=k, axes=tuple(axes)).copy()


# -- resampling ----------------------------------------------------------------------


def transform_channels(
    array: np.ndarray, matrix: np.ndarray, offset: np.ndarray, shape: Sequence[int], order: int
) -> np.ndarray:
    """Resample every channel of ``array`` onto ``shape``: output voxel ``o`` reads input
    ``matrix @ o + offset``; 0 outside. Order 0 keeps the dtype (labels), 1 gives float32."""
    out = np.empty((*shape, array.shape[-1]), dtype=np.float32)
    for channel in range(array.shape[-1]):
        ndimage.affine_transform(
            np.asarray(array[..., channel], dtype=np.float32),
            matrix,
            offset=offset,
            output_shape=tuple(shape),
            output=out[..., channel],
            order=order,
            mode="constant",
            cval=0.0,
        )
    return out.astype(array.dtype, copy=False) if order == 0 else out


def resample_to_shape(array: np.ndarray, shape: Sequence[int], order: int = 1) -> np.ndarray:
    """Resample ``(*spatial, C)`` onto ``shape`` so that voxel 0 stays in place.

    The grid is scaled by ``old / new`` per axis, the convention of
    :class:`~unetseg.transforms.Spacingd`, which makes this its inverse.

    Args:
        array: A channels-last array, ``(*spatial, C)``.
        shape: The new spatial shape.
        order: The spline interpolation order: 0 (nearest) keeps the dtype, for label
            maps; higher orders (1: linear) give float32.

    Example:
        >>> resample_to_shape(np.array([[0], [2], [4], [6]], dtype=np.uint8), (2,), order=0)
        array([[0],
               [4]], dtype=uint8)
    """
    ratio = np.array(array.shape[:-1], dtype=float) / np.array(shape, dtype=float)
    return transform_channels(array, np.diag(ratio), np.zeros(len(shape)), shape, order)


def rotation_matrix(angles: Sequence[float], dims: int) -> np.ndarray:
    """The rotation by ``angles`` (radians): one plane in 2D, the planes of axes 0, 1, 2 in 3D."""
    if dims == 2:
        (angle,) = angles
        c, s = math.cos(angle), math.sin(angle)
        return np.array([[c, -s], [s, c]])
    matrix = np.eye(3)
    for axis, angle in enumerate(angles):
        c, s = math.cos(angle), math.sin(angle)
        plane = [a for a in range(3) if a != axis]
        rotation = np.eye(3)
        rotation[np.ix_(plane, plane)] = [[c, -s], [s, c]]
        matrix = rotation @ matrix
    return matrix


# -- stacks of 2D slices -------------------------------------------------------------


def resize_slices(stack: np.ndarray, size: Sequence[int], order: int) -> np.ndarray:
    """Resize slices ``(N, H, W[, C])`` to ``size`` ``(h, w)`` (zoom on H and W only)."""
    factors = [1.0, size[0] / stack.shape[1], size[1] / stack.shape[2]]
    factors += [1.0] * (stack.ndim - 3)
    resized = ndimage.zoom(stack, factors, order=order, mode="nearest", grid_mode=True)
    return resized[:, : size[0], : size[1]]


def slice_range_bounds(slice_range: Sequence[int], depth: int) -> tuple[int, int]:
    """``(start, stop)`` of ``slice_range``, checked against a volume of ``depth`` slices."""
    start, stop = (int(v) for v in slice_range)
    if not 0 <= start < stop <= depth:
        raise ConfigError(
            f"slice_range {list(slice_range)} does not fit a volume of {depth} slices."
        )
    return start, stop


def place_slices(
    slices: np.ndarray, shape: Sequence[int], slice_range: Sequence[int], order: int = 0
) -> np.ndarray:
    """Slices ``(n, h, w, C)`` → a volume ``(*shape, C)``: each slice resized back to
    ``shape[:2]`` and put at ``slice_range``; slices outside it are 0.

    Example:
        >>> place_slices(np.ones((2, 2, 2, 1)), (4, 4, 3), (1, 3))[..., 0].sum(axis=(0, 1))
        array([ 0., 16., 16.])
    """
    slices = np.asarray(slices)
    start, stop = slice_range_bounds(slice_range, shape[2])
    if slices.ndim != 4 or slices.shape[0] != stop - start:
        raise DataError(
            f"Slices of shape {slices.shape} do not fill slice_range {list(slice_range)}: "
            f"expected (n={stop - start}, h, w, channels)."
        )
    resized = resize_slices(slices, shape[:2], order=order)
    volume = np.zeros((*shape, slices.shape[-1]), dtype=slices.dtype)
    volume[:, :, start:stop] = np.moveaxis(resized, 0, 2)
    return volume
