"""Writing files so that a crash never leaves half of one.

Every file unetseg writes — CSV tables, JSON configuration, NIfTI predictions,
model checkpoints — goes through :func:`atomic_write`: the content is written to
a temporary file in the same folder and moved over the target only once it is
complete. A reader sees the old file or the new one, never a torn mix.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["atomic_write", "default_permissions"]


def default_permissions(path: str | os.PathLike[str]) -> None:
    """Give ``path`` the permissions a plain ``open`` would (0666 less the umask).

    ``tempfile.mkstemp`` creates files readable by their owner only; a result moved
    into place from one would surprise anyone else who reads the folder.
    """
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, 0o666 & ~umask)


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
