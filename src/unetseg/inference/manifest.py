"""What wrote each prediction of a folder: ``predictions.json``, so a stale file is never
counted as done.

:meth:`Predictor.predict <unetseg.inference.Predictor.predict>` skips cases whose file
exists, so an interrupted prediction resumes. A file left by another model, other
settings or another program, or a file changed since, must not pass for a result: the
manifest records, per file, its size and SHA-256 and the *source* that wrote it (a
digest of the model's weights and the settings the caller names), and a file whose
record does not match is refused (or redone with ``overwrite``).
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from unetseg.errors import DataError
from unetseg.fileio import to_json_value, write_json

__all__ = ["MANIFEST_NAME", "PredictionManifest", "model_digest"]

#: The manifest's file name in a folder of predictions.
MANIFEST_NAME = "predictions.json"
_VERSION = 1


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_digest(model: Any) -> str:
    """A SHA-256 of what a model computes: the shapes and values of its weights (every
    model of an :class:`~unetseg.inference.Ensemble`, in order); for a plain function,
    its qualified name (its behaviour cannot be fingerprinted).

    Args:
        model: A ``keras.Model``, an :class:`~unetseg.inference.Ensemble` or a function.

    Example:
        >>> def identity(x):
        ...     return x
        >>> model_digest(identity)
        'function:unetseg.inference.manifest.identity'
    """
    if isinstance(getattr(model, "file_digest", None), str):  # an exported ONNX model
        return model.file_digest
    members = getattr(model, "models", None)
    if isinstance(members, list):
        return hashlib.sha256("|".join(map(model_digest, members)).encode()).hexdigest()
    weights = getattr(model, "weights", None)
    if weights is None:
        module = getattr(model, "__module__", None) or type(model).__module__
        name = getattr(model, "__qualname__", None) or type(model).__qualname__
        return f"function:{module}.{name}".replace("<locals>.", "")
    import keras

    digest = hashlib.sha256()
    for weight in weights:
        array = np.ascontiguousarray(keras.ops.convert_to_numpy(weight))
        digest.update(f"{weight.path}:{array.dtype}:{array.shape};".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


class PredictionManifest:
    """The record of what wrote each file of a prediction folder (``predictions.json``).

    Args:
        folder: The prediction folder; its manifest is read if it exists.
        name: The manifest's file name; machines that predict shards of one set of cases
            into one folder each keep their own (``predictions.shard-1-of-4.json``), so
            none overwrites another's record.

    Raises:
        DataError: If the manifest exists but is not one (naming the file).
    """

    def __init__(self, folder: str | os.PathLike[str], name: str = MANIFEST_NAME) -> None:
        self.folder = Path(folder)
        self.path = self.folder / name
        self.entries: dict[str, dict[str, Any]] = {}
        if self.path.exists():
            try:
                content = json.loads(self.path.read_text(encoding="utf-8"))
                entries = content["files"]
                if content.get("version") != _VERSION or not isinstance(entries, dict):
                    raise ValueError("unknown layout")
            except (ValueError, KeyError, TypeError, UnicodeDecodeError) as error:
                raise DataError(
                    f"{self.path} is not a prediction manifest of unetseg ({error}); move it "
                    "away or predict into another folder."
                ) from error
            self.entries = entries

    def is_current(self, name: str, source: Mapping[str, Any]) -> bool:
        """Whether the file ``name`` exists, was written by ``source`` and is unchanged."""
        entry = self.entries.get(name)
        path = self.folder / name
        if entry is None or not path.is_file():
            return False
        if entry.get("source") != to_json_value(dict(source)):
            return False
        return entry.get("size") == path.stat().st_size and entry.get("sha256") == _file_digest(
            path
        )

    def describe(self, name: str) -> str:
        """Why the file ``name`` is not current, in words (for error messages)."""
        entry = self.entries.get(name)
        if entry is None:
            return "not written by unetseg's predict (no record in the manifest)"
        path = self.folder / name
        if entry.get("size") != path.stat().st_size or entry.get("sha256") != _file_digest(path):
            return "changed since it was written"
        return "written by another model or other settings"

    def record(self, name: str, source: Mapping[str, Any]) -> None:
        """Note that the file ``name`` (just written) comes from ``source``; saved at once,
        atomically."""
        path = self.folder / name
        self.entries[name] = {
            "source": to_json_value(dict(source)),
            "size": path.stat().st_size,
            "sha256": _file_digest(path),
        }
        write_json(self.path, {"version": _VERSION, "files": self.entries})
