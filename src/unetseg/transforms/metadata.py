"""Record metadata and the log of spatial operations, with one table of their inverses.

A record keeps what is known about ``record[key]`` under ``record["<key>_meta"]``
(:func:`meta_key`): the affine, spacing and source shape from
:class:`~unetseg.transforms.LoadImage`, and ``"applied"``, the list of spatial
operations the dictionary transforms performed, oldest first. Each operation is a
JSON-compatible dictionary whose ``"kind"`` names it:

=============  ==========================================  ===============================
kind           recorded by                                 undone by
=============  ==========================================  ===============================
``crop``       pads and crops (a box, the grid before)     putting the box back
``flip``       ``RandFlipd`` (the axes)                    the same flip
``rot90``      ``RandRotate90d`` (quarter turns, plane)    the opposite turns
``resample``   ``Spacingd`` (the grid before, the order)   resampling back, same order
``slices``     ``VolumeSlicesd`` (the volume, the range)   slices resized back in place
=============  ==========================================  ===============================

:data:`INVERSES` maps each kind to the function that undoes it, so a new invertible
transform records its operation with :func:`record_operation` and registers its
inverse here, and nothing else changes: :func:`invert`,
:meth:`~unetseg.transforms.Compose.inverse`, :class:`~unetseg.transforms.Invertd`
and the post-processing of predictions all read this table.

Example:
    >>> import numpy as np
    >>> record = {"label": np.arange(3).reshape(3, 1)}
    >>> record_operation(record, "label", {"kind": "flip", "axes": [0]})
    >>> invert(np.array([[2], [1], [0]]), record["label_meta"])[:, 0]
    array([0, 1, 2])
"""

from __future__ import annotations

from collections.abc import Hashable, MutableMapping
from typing import Any

import numpy as np

from unetseg.errors import DataError
from unetseg.registries import INVERSES
from unetseg.transforms.geometry import (
    flip,
    place_slices,
    resample_to_shape,
    rot90,
    uncrop_box,
)

__all__ = ["INVERSES", "invert", "meta_key", "record_operation"]

Operation = dict[str, Any]


def meta_key(key: Hashable) -> str:
    """The record key under which the dictionary transforms keep ``key``'s metadata.

    Args:
        key: The record key of the data.

    Example:
        >>> meta_key("image")
        'image_meta'
    """
    return f"{key}_meta"


def record_operation(
    record: MutableMapping[Hashable, Any], key: Hashable, operation: Operation
) -> None:
    """Append ``operation`` to the log of ``key`` (the metadata is copied, never shared).

    Args:
        record: The record, changed in place (its ``"<key>_meta"`` is replaced).
        key: The key whose log the operation is appended to.
        operation: A JSON-compatible dictionary whose ``"kind"`` has an inverse in
            :data:`INVERSES`.

    Raises:
        DataError: If the operation's kind has no registered inverse.
    """
    kind = operation.get("kind")
    if kind not in INVERSES:
        raise DataError(
            f"Cannot record operation {kind!r}: no inverse is registered for it "
            f"(known: {', '.join(INVERSES.names())})."
        )
    meta = dict(record.get(meta_key(key)) or {})
    meta["applied"] = [*meta.get("applied", []), operation]
    record[meta_key(key)] = meta


def invert(array: Any, meta: dict[str, Any], *, order: int | None = None) -> np.ndarray:
    """Undo the recorded spatial operations of ``meta`` on ``array``, newest first.

    Args:
        array: Data on the transformed grid, such as a prediction, ``(*spatial, C)``.
        meta: The metadata of the key the operations were recorded for.
        order: The interpolation order of every resampling undone, instead of the
            recorded one: 0 to bring back a label map predicted on a resampled image
            (whose own operations were recorded with order 1).

    Returns:
        The array on the original grid (cropped-away parts filled with 0).

    Raises:
        DataError: If an operation's kind is unknown (the metadata is corrupt).
    """
    result = np.asarray(array)
    for operation in reversed(meta.get("applied", [])):
        kind = operation.get("kind") if isinstance(operation, dict) else None
        if kind not in INVERSES:
            raise DataError(
                f"Unknown recorded operation {kind!r}; the record's metadata is corrupt "
                f"(known kinds: {', '.join(INVERSES.names())})."
            )
        if order is not None and "order" in operation:
            operation = {**operation, "order": order}
        result = INVERSES.get(kind)(result, operation)
    return result


@INVERSES.register("crop")
def _uncrop(array: np.ndarray, operation: Operation) -> np.ndarray:
    return uncrop_box(array, operation["box"], operation["shape"])


@INVERSES.register("flip")
def _unflip(array: np.ndarray, operation: Operation) -> np.ndarray:
    return flip(array, operation["axes"])


@INVERSES.register("rot90")
def _unrotate(array: np.ndarray, operation: Operation) -> np.ndarray:
    return rot90(array, -operation["k"], operation["axes"])


@INVERSES.register("resample")
def _unresample(array: np.ndarray, operation: Operation) -> np.ndarray:
    return resample_to_shape(array, operation["shape"], operation["order"])


@INVERSES.register("slices")
def _unslice(array: np.ndarray, operation: Operation) -> np.ndarray:
    return place_slices(array, operation["shape"], operation["range"], operation["order"])
