"""Records plus a transform chain give samples: :class:`Dataset`."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from unetseg.transforms.base import apply_transform

__all__ = ["Dataset"]


class Dataset(Sequence):
    """A sequence of records whose items pass through a transform on access.

    Args:
        records: The records (from :func:`~unetseg.data.find_brats_cases`, say).
        transform: Applied to a copy of the record on each access; ``None`` returns
            the record as is. A transform that returns several records (a patch
            sampler) makes the item a list.

    Example:
        >>> dataset = Dataset([{"id": "a", "x": 1}], transform=lambda r: {**r, "x": r["x"] + 1})
        >>> dataset[0]["x"], len(dataset)
        (2, 1)
    """

    def __init__(
        self, records: Sequence[dict[str, Any]], transform: Callable[[dict], Any] | None = None
    ) -> None:
        self.records = list(records)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, index: int) -> Any:  # type: ignore[override]
        record = dict(self.records[index])
        return record if self.transform is None else apply_transform(self.transform, record)
