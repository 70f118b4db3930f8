"""Writing files so that a crash never leaves half of one.

Every file unetseg writes — CSV tables, JSON configuration, NIfTI predictions,
model checkpoints — goes through :func:`atomic_write`: the content is written to
a temporary file in the same folder and moved over the target only once it is
complete. A reader sees the old file or the new one, never a torn mix. JSON goes
through :func:`write_json`, whose :func:`to_json_value` is the one conversion of
NumPy values, tuples and paths to JSON in the library.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "default_permissions", "to_json_value", "write_json"]


def default_permissions(path: str | os.PathLike[str], *, folder: bool = False) -> None:
    """Give ``path`` the permissions a plain ``open`` (or ``mkdir`` for a ``folder``)
    would: 0666 (0777) less the umask.

    ``tempfile.mkstemp`` and ``mkdtemp`` create files and folders their owner alone can
    read; a result moved into place from one would surprise anyone else who reads it.

    Args:
        path: The existing file or folder whose permissions to set.
        folder: Whether ``path`` is a folder (0777 less the umask) rather than a file (0666).
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, (0o777 if folder else 0o666) & ~umask)


@contextlib.contextmanager
def atomic_write(
    path: str | os.PathLike[str],
    mode: str = "w",
    *,
    encoding: str | None = "utf-8",
    newline: str | None = None,
) -> Iterator[IO]:
    """Open a temporary file that replaces ``path`` when the block ends without error.

    Args:
        path: The file to write. Its folder must exist.
        mode: ``"w"`` for text or ``"wb"`` for bytes.
        encoding: Text encoding (ignored for bytes).
        newline: Passed to :func:`open` for text (``""`` for the :mod:`csv` module).

    Yields:
        The open temporary file.

    Raises:
        FileNotFoundError: If the folder of ``path`` does not exist.

    Example:
        >>> import tempfile, pathlib
        >>> target = pathlib.Path(tempfile.mkdtemp()) / "table.csv"
        >>> with atomic_write(target) as handle:
        ...     _ = handle.write("case,dice\\n")
        >>> target.read_text()
        'case,dice\\n'
    """
    if mode not in {"w", "wb"}:
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    target = Path(path)
    folder = target.parent
    if not folder.is_dir():
        raise FileNotFoundError(f"Cannot write {target}: the folder {folder} does not exist.")
    descriptor, temporary = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=folder)
    binary = mode == "wb"
    try:
        with os.fdopen(
            descriptor,
            mode,
            encoding=None if binary else encoding,
            newline=None if binary else newline,
        ) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        default_permissions(temporary)
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise


def to_json_value(value: Any) -> Any:
    """``value`` as plain JSON types: NumPy arrays and scalars as lists and numbers,
    tuples as lists, paths as text, mapping keys as text; other objects (a NIfTI
    header, say) become ``None``.

    Args:
        value: The value to convert, nested dicts, lists and tuples converted throughout.

    Example:
        >>> import numpy as np
        >>> to_json_value({"shape": (2, 3), "spacing": np.array([1.0, 2.0]), 4: object()})
        {'shape': [2, 3], 'spacing': [1.0, 2.0], '4': None}
    """
    if isinstance(value, dict):
        return {str(k): to_json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json_value(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    tolist = getattr(value, "tolist", None)  # NumPy arrays and scalars
    if callable(tolist):
        return to_json_value(tolist())
    return None


def write_json(path: str | os.PathLike[str], value: Any) -> None:
    """Write ``value`` (through :func:`to_json_value`) as indented JSON, atomically.

    Args:
        path: The file to write (replaced, through :func:`atomic_write`); its folder must
            exist.
        value: The value to write; see :func:`to_json_value` for what it may hold.
    """
    with atomic_write(path) as handle:
        json.dump(to_json_value(value), handle, indent=2)
        handle.write("\n")
