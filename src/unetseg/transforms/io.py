"""Reading and writing NIfTI volumes: :class:`LoadImage` and :class:`SaveImage`.

``LoadImage`` reads one file, or several stacked as channels (the four MRI
modalities of a BraTS case), into a float32 channels-last array ``(H, W, D, C)``
and returns its metadata: the affine, the voxel spacing, the spatial shape, the
source files and the NIfTI header. The dictionary form stores the metadata in the
record under ``"<key>_meta"``. ``SaveImage`` writes an array back to NIfTI with an
affine (the source one by default), atomically.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import zlib
from collections.abc import Hashable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unetseg.errors import ConfigError, DataError
from unetseg.fileio import default_permissions
from unetseg.transforms.base import MapTransform, Transform
from unetseg.transforms.metadata import meta_key

__all__ = ["LoadImage", "LoadImaged", "SaveImage", "SaveImaged"]

_EXTENSIONS = (".nii", ".nii.gz")


def _nibabel() -> Any:
    import nibabel

    return nibabel


def _check_extension(path: Path) -> None:
    if not any(path.name.endswith(ext) for ext in _EXTENSIONS):
        raise DataError(f"{path} is not a NIfTI file: expected a name ending in .nii or .nii.gz.")


def _read(
    path: Path, as_closest_canonical: bool
) -> tuple[np.ndarray, Any, np.ndarray, tuple[int, ...]]:
    """Read one NIfTI file: (float32 data, image object, file affine, file spatial shape)."""
    nib = _nibabel()
    _check_extension(path)
    if not path.is_file():
        raise DataError(f"NIfTI file {path} does not exist.")
    try:
        image = nib.load(str(path))
        original_affine = np.array(image.affine, dtype=np.float64)
        original_shape = tuple(int(n) for n in image.shape[:3])
        if as_closest_canonical:
            image = nib.as_closest_canonical(image)
        data = np.asarray(image.get_fdata(dtype=np.float32))
    except (OSError, EOFError, ValueError, zlib.error, nib.filebasedimages.ImageFileError) as error:
        raise DataError(
            f"Cannot read NIfTI file {path}: {type(error).__name__}: {error}. "
            "The file may be corrupt or truncated."
        ) from error
    return data, image, original_affine, original_shape


class LoadImage(Transform):
    """Load a NIfTI file, or several stacked as channels, as float32 ``(*spatial, C)``.

    Args:
        as_closest_canonical: Reorient to the closest RAS+ orientation (nibabel's
            ``as_closest_canonical``), so the array axes run right, anterior, superior.
        image_only: Return only the array, not ``(array, metadata)``.

    The metadata dictionary holds ``affine`` (of the returned array), ``original_affine``
    (of the file), ``spacing`` (voxel size in mm), ``spatial_shape`` (of the returned
    array), ``source_shape`` (of the file, before any reorientation), ``filenames``
    and ``header`` (a copy of the first file's NIfTI header).

    Raises:
        DataError: If a file is missing, not NIfTI, corrupt or truncated (the message
            names the file), or if stacked files differ in shape or affine (the message
            names both files).

    Example:
        ``image, meta = LoadImage()(["flair.nii.gz", "t1.nii.gz"])`` reads two
        modalities of a BraTS case into ``image`` of shape ``(240, 240, 155, 2)``, with
        ``meta["spacing"] == (1.0, 1.0, 1.0)``.
    """

    def __init__(self, as_closest_canonical: bool = False, image_only: bool = False) -> None:
        self.as_closest_canonical = bool(as_closest_canonical)
        self.image_only = bool(image_only)

    def __call__(self, paths: str | os.PathLike[str] | Sequence[str | os.PathLike[str]]) -> Any:
        if isinstance(paths, (str, os.PathLike)):
            paths = [paths]
        paths = [Path(p) for p in paths]
        if not paths:
            raise DataError("LoadImage was given no file.")
        channels = []
        first_image = first_affine = None
        for path in paths:
            data, image, original_affine, original_shape = _read(path, self.as_closest_canonical)
            if data.ndim == 3:
                data = data[..., None]
            elif data.ndim != 4:
                raise DataError(
                    f"NIfTI file {path} holds a {data.ndim}D array of shape {data.shape}; "
                    "expected a 3D volume or a 4D stack of volumes."
                )
            if first_image is None:
                first_image, first_affine = image, image.affine
                first_original, first_shape = original_affine, original_shape
            else:
                if data.shape[:3] != channels[0].shape[:3]:
                    raise DataError(
                        f"{path} has shape {data.shape[:3]} but {paths[0]} has shape "
                        f"{channels[0].shape[:3]}; stacked modalities must share one grid."
                    )
                if not np.allclose(image.affine, first_affine, atol=1e-4):
                    raise DataError(
                        f"{path} and {paths[0]} have different affines; stacked modalities must "
                        "be co-registered on one grid."
                    )
            channels.append(data)
        array = channels[0] if len(channels) == 1 else np.concatenate(channels, axis=-1)
        if self.image_only:
            return array
        meta = {
            "affine": np.array(first_affine, dtype=np.float64),
            "original_affine": first_original,
            "spacing": tuple(float(z) for z in first_image.header.get_zooms()[:3]),
            "spatial_shape": tuple(int(s) for s in array.shape[:-1]),
            "source_shape": first_shape,
            "filenames": [str(p) for p in paths],
            "header": first_image.header.copy(),
        }
        return array, meta


class LoadImaged(MapTransform):
    """Dictionary form of :class:`LoadImage`: each key holds a path or a list of paths.

    The array replaces the path(s) under the key; the metadata goes under
    ``"<key>_meta"`` (see :func:`meta_key`).

    Args:
        keys: The keys to load.
        as_closest_canonical: Reorient to RAS+.
        allow_missing_keys: Skip keys the record lacks (a validation case has no label).
    """

    def __init__(
        self,
        keys: Hashable | Sequence[Hashable],
        as_closest_canonical: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.loader = LoadImage(as_closest_canonical=as_closest_canonical)

    def __call__(self, record: dict) -> dict:
        result = dict(record)
        for key in self.key_iterator(result):
            result[key], result[meta_key(key)] = self.loader(result[key])
        return result


class SaveImage(Transform):
    """Write an array ``(*spatial[, C])`` to a NIfTI file, atomically.

    Args:
        dtype: The stored dtype (``"uint8"`` for label maps, ``"float32"`` for images).
        overwrite: Replace an existing file; otherwise an existing file is an error.

    Call it as ``SaveImage()(array, path, meta)``: ``meta`` (from :class:`LoadImage`)
    provides the affine and header; without it the affine is the identity. A single
    channel is written as a 3D volume. The file is written under a temporary name in
    the same folder and moved into place, so a crash never leaves half a file.

    Raises:
        DataError: If the array's spatial shape differs from ``meta["spatial_shape"]``.
        FileExistsError: If the file exists and ``overwrite`` is false.
    """

    def __init__(self, dtype: str = "float32", overwrite: bool = True) -> None:
        try:
            self.dtype = np.dtype(dtype)
        except TypeError as error:
            raise ConfigError(f"Unknown dtype {dtype!r} for SaveImage.") from error
        self.overwrite = bool(overwrite)

    def __call__(
        self,
        array: Any,
        path: str | os.PathLike[str],
        meta: dict[str, Any] | None = None,
    ) -> Path:
        nib = _nibabel()
        path = Path(path)
        _check_extension(path)
        if path.exists() and not self.overwrite:
            raise FileExistsError(f"{path} exists; pass overwrite=True to replace it.")
        data = np.asarray(array)
        if data.ndim == 4 and data.shape[-1] == 1:
            data = data[..., 0]
        meta = meta or {}
        expected = meta.get("spatial_shape")
        if expected is not None and tuple(data.shape[:3]) != tuple(expected):
            raise DataError(
                f"Cannot save an array of spatial shape {data.shape[:3]} to {path} with the "
                f"metadata of an image of shape {tuple(expected)}; undo the cropping first."
            )
        affine = np.asarray(meta.get("affine", np.eye(4)), dtype=np.float64)
        header = meta.get("header")
        header = header.copy() if header is not None else None
        image = nib.Nifti1Image(data.astype(self.dtype, copy=False), affine, header)
        image.set_data_dtype(self.dtype)
        if self.dtype.kind in "iub":
            image.header.set_slope_inter(1.0, 0.0)
        path.parent.mkdir(parents=True, exist_ok=True)
        suffix = ".nii.gz" if path.name.endswith(".nii.gz") else ".nii"
        descriptor, temporary = tempfile.mkstemp(
            prefix=f".{path.name}.", suffix=suffix, dir=path.parent
        )
        os.close(descriptor)
        try:
            nib.save(image, temporary)
            default_permissions(temporary)
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)
            raise
        return path


class SaveImaged(MapTransform):
    """Dictionary form of :class:`SaveImage`: write each key to ``folder/<id>_<key>.nii.gz``.

    Args:
        keys: The keys to write.
        folder: The output folder (created if needed).
        dtype: The stored dtype.
        name_template: The file name, formatted with ``id`` and ``key``.
        overwrite: Replace existing files.
        allow_missing_keys: Skip keys the record lacks.

    The written path is stored in the record under ``"<key>_path"``.
    """

    def __init__(
        self,
        keys: Hashable | Sequence[Hashable],
        folder: str | os.PathLike[str],
        dtype: str = "float32",
        name_template: str = "{id}_{key}.nii.gz",
        overwrite: bool = True,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.folder = Path(folder)
        self.name_template = name_template
        self.saver = SaveImage(dtype=dtype, overwrite=overwrite)

    def __call__(self, record: dict) -> dict:
        result = dict(record)
        if "id" not in result:
            raise KeyError("SaveImaged needs the record's 'id' to name the file.")
        for key in self.key_iterator(result):
            name = self.name_template.format(id=result["id"], key=key)
            result[f"{key}_path"] = self.saver(
                result[key], self.folder / name, result.get(meta_key(key))
            )
        return result
