"""Transforms that resample the grid: :class:`RandAffined` and :class:`Spacingd`.

Images are interpolated linearly, labels with nearest neighbour (``mode`` per
key), channel by channel with :func:`scipy.ndimage.affine_transform`.
``Spacingd`` is recorded in the metadata and undone by :func:`~unetseg.transforms.invert`;
``RandAffined`` is a training augmentation and is not recorded.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np
from scipy import ndimage

from unetseg.errors import ConfigError, DataError
from unetseg.transforms.base import MapTransform, Randomizable, check_probability
from unetseg.transforms.io import meta_key

__all__ = ["RandAffined", "Spacingd", "resample_to_shape"]

_ORDERS = {"nearest": 0, "bilinear": 1}


def _orders(mode: str | Sequence[str], count: int) -> list[int]:
    modes = [mode] * count if isinstance(mode, str) else list(mode)
    if len(modes) != count or any(m not in _ORDERS for m in modes):
        raise ConfigError(
            f"mode must be 'bilinear' or 'nearest', or one of them per key ({count}); got {mode!r}."
        )
    return [_ORDERS[m] for m in modes]


def _transform_channels(
    array: np.ndarray, matrix: np.ndarray, offset: np.ndarray, shape: Sequence[int], order: int
) -> np.ndarray:
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

    The grid is scaled by ``old / new`` per axis, the convention of :class:`Spacingd`,
    which makes this its inverse.
    """
    ratio = np.array(array.shape[:-1], dtype=float) / np.array(shape, dtype=float)
    return _transform_channels(array, np.diag(ratio), np.zeros(len(shape)), shape, order)


def _rotation(angles: Sequence[float], dims: int) -> np.ndarray:
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


class RandAffined(Randomizable, MapTransform):
    """Random rotation and scaling about the centre, the same for every key.

    Args:
        keys: The keys to transform (image and label).
        prob: Probability of acting.
        rotate_range: Largest rotation in radians: a number for every rotation plane
            (one in 2D, three in 3D) or one per plane; angles are drawn from
            ``[−r, r]``.
        scale_range: Largest relative scaling: a number or one per axis; factors are
            drawn from ``[1 − s, 1 + s]`` (above 1 enlarges the content).
        mode: ``"bilinear"`` or ``"nearest"``, or one per key — ``("bilinear",
            "nearest")`` for an image and its label.
        allow_missing_keys: Skip missing keys.

    The output keeps the input's spatial shape; what moves in from outside is 0.
    """

    def __init__(
        self,
        keys: Hashable | Sequence[Hashable],
        prob: float = 0.1,
        rotate_range: float | Sequence[float] = 0.0,
        scale_range: float | Sequence[float] = 0.0,
        mode: str | Sequence[str] = "bilinear",
        allow_missing_keys: bool = False,
    ) -> None:
        MapTransform.__init__(self, keys, allow_missing_keys)
        Randomizable.__init__(self)
        self.prob = check_probability(prob)
        self.rotate_range, self.scale_range = rotate_range, scale_range
        self.orders = _orders(mode, len(self.keys))
        for name, value in (("rotate_range", rotate_range), ("scale_range", scale_range)):
            values = [value] if isinstance(value, (int, float)) else list(value)
            if any(v < 0 for v in values):
                raise ConfigError(f"{name} must be >= 0, got {value!r}.")
        if any(
            s >= 1
            for s in ([scale_range] if isinstance(scale_range, (int, float)) else scale_range)
        ):
            raise ConfigError(
                f"scale_range must be < 1 (factors stay positive), got {scale_range!r}."
            )

    def _per(self, value: float | Sequence[float], count: int, name: str) -> np.ndarray:
        values = (
            np.full(count, float(value))
            if isinstance(value, (int, float))
            else np.asarray(value, float)
        )
        if values.shape != (count,):
            raise ConfigError(f"{name} needs 1 or {count} values for this image, got {value!r}.")
        return values

    def _matrix(self, dims: int) -> np.ndarray:
        planes = 1 if dims == 2 else 3
        rotate = self._per(self.rotate_range, planes, "rotate_range")
        scale = self._per(self.scale_range, dims, "scale_range")
        angles = self.rng.uniform(-rotate, rotate)
        factors = self.rng.uniform(1.0 - scale, 1.0 + scale)
        return _rotation(angles, dims) @ np.diag(factors)

    def __call__(self, record: dict) -> dict:
        result = dict(record)
        keys = list(self.key_iterator(result))
        if not keys or self.rng.random() >= self.prob:
            return result
        spatial = np.asarray(result[keys[0]]).shape[:-1]
        if len(spatial) not in (2, 3):
            raise DataError(f"RandAffined expects 2D or 3D images, got spatial shape {spatial}.")
        forward = self._matrix(len(spatial))
        inverse = np.linalg.inv(forward)
        centre = (np.array(spatial, dtype=float) - 1.0) / 2.0
        offset = centre - inverse @ centre
        for key, order in zip(self.keys, self.orders, strict=True):
            if key not in keys:
                continue
            array = np.asarray(result[key])
            if array.shape[:-1] != spatial:
                raise DataError(
                    f"RandAffined: key {key!r} has spatial shape {array.shape[:-1]} but "
                    f"{keys[0]!r} has {spatial}; they must share one grid."
                )
            result[key] = _transform_channels(array, inverse, offset, spatial, order)
        return result


class Spacingd(MapTransform):
    """Resample to a target voxel spacing (in mm), keeping voxel 0 in place.

    The source spacing comes from the key's metadata (``LoadImaged`` stores it). The
    operation is recorded, so :class:`~unetseg.transforms.Invertd` brings a
    prediction back onto the original grid.

    Args:
        keys: The keys to resample.
        pixdim: The target spacing per axis (a number for isotropic voxels).
        mode: ``"bilinear"`` or ``"nearest"``, or one per key.
        allow_missing_keys: Skip missing keys.
    """

    def __init__(
        self,
        keys: Hashable | Sequence[Hashable],
        pixdim: float | Sequence[float],
        mode: str | Sequence[str] = "bilinear",
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.pixdim = pixdim
        self.orders = _orders(mode, len(self.keys))

    def __call__(self, record: dict) -> dict:
        from unetseg.transforms.spatial import _record_operation

        result = dict(record)
        present = set(self.key_iterator(result))
        for key, order in zip(self.keys, self.orders, strict=True):
            if key not in present:
                continue
            array = np.asarray(result[key])
            meta = result.get(meta_key(key)) or {}
            if "spacing" not in meta:
                raise KeyError(
                    f"Spacingd needs the voxel spacing of {key!r} in {meta_key(key)!r}; "
                    "load it with LoadImaged."
                )
            source = np.asarray(meta["spacing"], dtype=float)
            dims = array.ndim - 1
            target = (
                np.full(dims, float(self.pixdim))
                if isinstance(self.pixdim, (int, float))
                else np.asarray(self.pixdim, float)
            )
            if target.shape != (dims,) or source.shape != (dims,) or np.any(target <= 0):
                raise ConfigError(
                    f"Spacingd: pixdim {self.pixdim!r} and spacing {tuple(source)} must both have "
                    f"{dims} positive values for {key!r}."
                )
            shape = [
                max(round(float(n * s / t)), 1)
                for n, s, t in zip(array.shape[:-1], source, target, strict=True)
            ]
            result[key] = resample_to_shape(array, shape, order)
            _record_operation(
                result, key, {"kind": "resample", "shape": list(array.shape[:-1]), "order": 1}
            )
        return result
