"""A preprocessing cache, like nnU-Net's preprocessed folder.

:class:`PreprocessedCache` applies the deterministic part of a pipeline (load,
convert labels, normalise, crop to the brain) once per case and stores the result
as ``.npy`` arrays — read back memory-mapped, with ``allow_pickle=False`` — plus a
``.json`` file with the metadata and a sample of foreground voxel positions for
oversampling. Every file is written under a temporary name and moved into place,
and the ``.json`` is written last: a case is in the cache only once all its files
are complete, so an interrupted build is simply resumed.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from unetseg.errors import DataError, in_case
from unetseg.fileio import atomic_write, to_json_value

__all__ = ["CachedCase", "PreprocessedCache"]

_FOREGROUND_SAMPLES = 10_000


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_write(path, "wb") as handle:
        np.save(handle, np.ascontiguousarray(array), allow_pickle=False)


class CachedCase:
    """One case in the cache: memory-mapped arrays and their metadata.

    Args:
        folder: The cache folder holding the case's ``<case_id>_<key>.npy`` files.
        case_id: The case id, the prefix of its file names (kept as ``id``).
        info: The case's metadata, as read from its ``<case_id>.json`` file.
    """

    def __init__(self, folder: Path, case_id: str, info: dict[str, Any]) -> None:
        self.folder, self.id, self.info = folder, case_id, info

    def array(self, key: str) -> np.ndarray:
        """The array stored for ``key``, memory-mapped read-only."""
        return np.load(self.folder / f"{self.id}_{key}.npy", mmap_mode="r", allow_pickle=False)

    @property
    def foreground(self) -> np.ndarray:
        """Up to 10,000 foreground voxel positions, ``(n, spatial_dims)`` int32."""
        return np.load(self.folder / f"{self.id}_foreground.npy", allow_pickle=False)


class PreprocessedCache:
    """Preprocess cases once into a folder of ``.npy`` arrays and ``.json`` metadata.

    Args:
        folder: Where the cache lives (created if needed).
        transform: The deterministic preprocessing: a record in (with paths), a
            record out with arrays under ``keys``.
        keys: The keys to store (``("image", "label")``).
        label_key: The key whose non-zero voxels are the foreground to oversample;
            ``None`` for no foreground positions.
        seed: Seed of the foreground position sample.

    A case is rebuilt when its ``.json`` is missing or records another pipeline
    (the pipeline is identified by a hash of ``repr(transform)``).
    """

    def __init__(
        self,
        folder: str | os.PathLike[str],
        transform: Callable[[dict], dict],
        keys: Iterable[str] = ("image", "label"),
        label_key: str | None = "label",
        seed: int = 0,
    ) -> None:
        self.folder = Path(folder)
        self.transform = transform
        self.keys = list(keys)
        self.label_key = label_key
        self.seed = seed
        self.pipeline_hash = hashlib.sha256(repr(transform).encode()).hexdigest()[:16]

    def _info_path(self, case_id: str) -> Path:
        return self.folder / f"{case_id}.json"

    def _is_complete(self, case_id: str) -> bool:
        path = self._info_path(case_id)
        if not path.is_file():
            return False
        try:
            info = json.loads(path.read_text())
        except json.JSONDecodeError:
            return False
        return info.get("pipeline") == self.pipeline_hash

    def build(
        self, records: Iterable[dict[str, Any]], *, progress: bool = True
    ) -> list[CachedCase]:
        """Preprocess every record not yet in the cache; return all of them as cached cases.

        Raises:
            DataError: If a record has no ``id`` or the transform does not produce a key.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        records = list(records)
        for record in records:
            if "id" not in record:
                raise DataError(f"A record to cache has no 'id': keys {sorted(record)}.")
        todo = [r for r in records if not self._is_complete(str(r["id"]))]
        iterator: Iterable[dict[str, Any]] = todo
        if progress and todo:
            from rich.progress import track

            iterator = track(
                todo, description=f"Preprocessing {len(todo)} cases into {self.folder}"
            )
        for record in iterator:
            with in_case(record["id"]):
                self._build_case(record)
        return [self.case(str(r["id"])) for r in records]

    def _build_case(self, record: dict[str, Any]) -> None:
        case_id = str(record["id"])
        result = self.transform(dict(record))
        if isinstance(result, list):
            raise DataError(
                "The cache's transform must be deterministic and return one record; "
                f"it returned {len(result)} for case {case_id!r}. Sample patches afterwards."
            )
        info: dict[str, Any] = {"id": case_id, "pipeline": self.pipeline_hash, "arrays": {}}
        for key in self.keys:
            array = np.asarray(result.get(key))
            if array.dtype.kind not in "biuf" or array.ndim < 2:
                raise DataError(
                    f"The cache's transform gave case {case_id!r} no {key!r} array (found "
                    f"{type(result.get(key)).__name__}); does the pipeline load it?"
                )
            _save_npy(self.folder / f"{case_id}_{key}.npy", array)
            info["arrays"][key] = {"shape": list(array.shape), "dtype": str(array.dtype)}
            info[f"{key}_meta"] = to_json_value(result.get(f"{key}_meta", {}))
        positions = np.zeros((0, 3), dtype=np.int32)
        if self.label_key is not None:
            label = np.asarray(result[self.label_key])
            foreground = np.argwhere((label > 0).any(axis=-1)).astype(np.int32)
            if len(foreground) > _FOREGROUND_SAMPLES:
                rng = np.random.default_rng([self.seed, len(foreground)])
                chosen = rng.choice(len(foreground), _FOREGROUND_SAMPLES, replace=False)
                foreground = foreground[np.sort(chosen)]
            positions = foreground
        _save_npy(self.folder / f"{case_id}_foreground.npy", positions)
        info["foreground_voxels"] = len(positions)
        with atomic_write(self._info_path(case_id)) as handle:  # last: marks the case complete
            json.dump(info, handle, indent=1)

    def case(self, case_id: str) -> CachedCase:
        """A cached case.

        Raises:
            DataError: If the case is not (completely) in the cache.
        """
        if not self._is_complete(case_id):
            raise DataError(f"Case {case_id!r} is not in the cache {self.folder}; build it first.")
        info = json.loads(self._info_path(case_id).read_text())
        return CachedCase(self.folder, case_id, info)
