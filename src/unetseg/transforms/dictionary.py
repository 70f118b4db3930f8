"""Dictionary forms of array transforms, defined once for all of them.

``Food`` is ``Foo`` applied to the ``keys`` of a record. For a random ``Foo``, the
parameters are drawn once per call (from the first key's array) and the same draw
is applied to every key, so an image and its label move together.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from typing import Any, ClassVar

import numpy as np

from unetseg.transforms.base import MapTransform, Randomizable, Transform

__all__ = ["ArrayTransformd", "RandArrayTransformd"]


class ArrayTransformd(MapTransform):
    """Apply the array transform ``array_transform`` to each of ``keys``.

    Args:
        keys: The record keys to transform.
        allow_missing_keys: Skip keys the record lacks instead of raising.
        **kwargs: The arguments of the array transform.
    """

    array_transform: ClassVar[type[Transform]]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        # Each dictionary form documents its arguments: the keys, and the array
        # transform's, which it passes on.
        array = vars(cls).get("array_transform")
        doc = vars(cls).get("__doc__")
        if array is not None and doc and "Args:" not in doc:
            cls.__doc__ = (
                f"{doc.rstrip()}\n\n    Args:\n"
                "        keys: The record keys to transform.\n"
                "        allow_missing_keys: Skip keys the record lacks instead of raising.\n"
                f"        **kwargs: The arguments of :class:`{array.__name__}`.\n"
            )

    def __init__(
        self,
        keys: Hashable | Sequence[Hashable],
        allow_missing_keys: bool = False,
        **kwargs: Any,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.transform = self.array_transform(**kwargs)

    def __call__(self, record: dict) -> dict:
        result = dict(record)
        for key in self.key_iterator(result):
            result[key] = self.transform(result[key])
        return result

    def __repr__(self) -> str:
        return f"{type(self).__name__}(keys={self.keys!r}, {self.transform!r})"


class RandArrayTransformd(Randomizable, ArrayTransformd):
    """A random :class:`ArrayTransformd`: one draw per call, shared by all keys.

    Args:
        keys: The record keys to transform.
        allow_missing_keys: Skip keys the record lacks instead of raising.
        **kwargs: The arguments of the random array transform.
    """

    def __init__(
        self,
        keys: Hashable | Sequence[Hashable],
        allow_missing_keys: bool = False,
        **kwargs: Any,
    ) -> None:
        ArrayTransformd.__init__(self, keys, allow_missing_keys, **kwargs)
        Randomizable.__init__(self)
        self.transform.set_random_state(rng=self.rng)

    def set_random_state(
        self, seed: int | None = None, rng: np.random.Generator | None = None
    ) -> RandArrayTransformd:
        super().set_random_state(seed, rng)
        self.transform.set_random_state(rng=self.rng)
        return self

    def __call__(self, record: dict) -> dict:
        result = dict(record)
        keys = list(self.key_iterator(result))
        if not keys:
            return result
        self.transform.randomize(result[keys[0]])
        for key in keys:
            result[key] = self.transform(result[key], randomize=False)
        return result
