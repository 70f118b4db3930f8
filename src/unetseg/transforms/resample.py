"""Transforms that resample the grid: :class:`RandAffined` and :class:`Spacingd`.

Images are interpolated linearly, labels with nearest neighbour (``mode`` per
key), channel by channel (see ``unetseg.transforms.geometry``). ``Spacingd`` is
recorded in the metadata, with each key's interpolation order, and undone by
:func:`~unetseg.transforms.invert`; ``RandAffined`` is a training augmentation and
is not recorded.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence

import numpy as np

from unetseg.errors import ConfigError, DataError
from unetseg.transforms.base import MapTransform, RandomizableTransform
from unetseg.transforms.geometry import resample_to_shape, rotation_matrix, transform_channels
from unetseg.transforms.metadata import meta_key, record_operation

__all__ = ["RandAffined", "Spacingd"]

_ORDERS = {"nearest": 0, "bilinear": 1}


def _orders(mode: str | Sequence[str], count: int) -> list[int]:
    modes = [mode] * count if isinstance(mode, str) else list(mode)
    if len(modes) != count or any(m not in _ORDERS for m in modes):
        raise ConfigError(
            f"mode must be 'bilinear' or 'nearest', or one of them per key ({count}); got {mode!r}."
        )
    return [_ORDERS[m] for m in modes]


class RandAffined(RandomizableTransform, MapTransform):
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
        RandomizableTransform.__init__(self, prob)
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
        return rotation_matrix(angles, dims) @ np.diag(factors)

    def __call__(self, record: dict) -> dict:
        result = dict(record)
        keys = list(self.key_iterator(result))
        if not keys:
            return result
        self.randomize()
        if not self._do_transform:
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
            result[key] = transform_channels(array, inverse, offset, spatial, order)
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
            # Undone with the key's own order: nearest for a label map keeps its labels.
            record_operation(
                result, key, {"kind": "resample", "shape": list(array.shape[:-1]), "order": order}
            )
        return result
