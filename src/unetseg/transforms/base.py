"""The transform machinery: array and dictionary transforms, randomness, composition.

The design is MONAI's, channels last:

- an *array transform* ``Foo`` maps one array to another;
- a *dictionary transform* ``Food`` applies ``Foo`` to the ``keys`` of a record (a
  plain ``dict``) and returns a new record, leaving the input untouched;
- a *random* transform owns a NumPy ``Generator``; it draws its parameters once per
  call in :meth:`Randomizable.randomize`, so a dictionary transform applies the same
  draw to every key (image and label move together);
- :class:`Compose` chains transforms, seeds its random children from one seed, maps
  later steps over the list a multi-sample transform returns, and adds the failing
  step's name and the record's id to any error without hiding the original.
"""

from __future__ import annotations

import abc
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from unetseg.errors import ConfigError
from unetseg.transforms.metadata import invert, meta_key

__all__ = [
    "Compose",
    "MapTransform",
    "OneOf",
    "Randomizable",
    "RandomizableTransform",
    "Transform",
    "apply_transform",
    "check_probability",
]

Record = dict[Hashable, Any]


class Transform(abc.ABC):
    """Base class of every transform: a callable with a readable ``repr``."""

    @abc.abstractmethod
    def __call__(self, data: Any) -> Any:
        """Apply the transform."""

    def __repr__(self) -> str:
        fields = ", ".join(
            f"{name}={value!r}"
            for name, value in vars(self).items()
            if not name.startswith("_") and name not in {"rng", "transform"}
        )
        return f"{type(self).__name__}({fields})"


def check_probability(prob: float) -> float:
    """Return ``prob`` as a float, refusing values outside [0, 1]."""
    if not 0.0 <= prob <= 1.0:
        raise ConfigError(f"prob must be in [0, 1], got {prob}.")
    return float(prob)


class Randomizable:
    """A component with its own random stream.

    ``set_random_state(seed)`` makes the stream reproducible: the same seed gives the
    same draws, bit for bit. :class:`Compose` seeds its children this way.
    """

    rng: np.random.Generator

    def __init__(self) -> None:
        self.rng = np.random.default_rng()

    def set_random_state(
        self, seed: int | None = None, rng: np.random.Generator | None = None
    ) -> Randomizable:
        """Reset the random stream from a seed or adopt a ``Generator``; returns ``self``."""
        if rng is not None:
            if not isinstance(rng, np.random.Generator):
                raise ConfigError(
                    f"rng must be a numpy.random.Generator, got {type(rng).__name__}."
                )
            self.rng = rng
        else:
            self.rng = np.random.default_rng(seed)
        return self

    def randomize(self, data: Any = None) -> None:
        """Draw this call's random parameters (subclasses store them on ``self``)."""


class RandomizableTransform(Randomizable, Transform):
    """A random transform that acts with probability ``prob`` (MONAI's name and idea).

    :meth:`randomize` draws whether this call acts (``self._do_transform``); a
    subclass with parameters of its own overrides it, calls ``super().randomize(data)``
    and draws them when ``self._do_transform``. Dictionary forms draw once per call and
    apply the draw to every key.

    Args:
        prob: The probability of acting, in [0, 1].

    Raises:
        ConfigError: If ``prob`` is outside [0, 1].
    """

    def __init__(self, prob: float = 1.0) -> None:
        Randomizable.__init__(self)
        self.prob = check_probability(prob)
        self._do_transform = False

    def randomize(self, data: Any = None) -> None:
        """Draw whether this call acts."""
        self._do_transform = bool(self.rng.random() < self.prob)


class MapTransform(Transform):
    """Base of dictionary transforms: which keys to act on, and what if one is missing.

    Args:
        keys: A key or a list of keys of the record.
        allow_missing_keys: Skip keys the record lacks instead of raising.

    Raises:
        ConfigError: If ``keys`` is empty.
    """

    def __init__(
        self, keys: Hashable | Sequence[Hashable], allow_missing_keys: bool = False
    ) -> None:
        if isinstance(keys, (str, bytes)) or not isinstance(keys, Iterable):
            keys = [keys]
        self.keys = list(keys)
        if not self.keys:
            raise ConfigError(f"{type(self).__name__} needs at least one key.")
        self.allow_missing_keys = bool(allow_missing_keys)

    def key_iterator(self, record: Mapping[Hashable, Any]) -> Iterator[Hashable]:
        """Yield the keys to act on that the record holds.

        Raises:
            KeyError: For a missing key unless ``allow_missing_keys``; the message names
                the key, the transform and the keys the record has.
        """
        if not isinstance(record, Mapping):
            raise TypeError(
                f"{type(self).__name__} expects a record (a dict), got {type(record).__name__}."
            )
        for key in self.keys:
            if key in record:
                yield key
            elif not self.allow_missing_keys:
                raise KeyError(
                    f"{type(self).__name__}: the record has no key {key!r} "
                    f"(it has {sorted(map(str, record))}); pass allow_missing_keys=True to "
                    "skip missing keys."
                )


def _record_id(data: Any) -> str:
    if isinstance(data, Mapping) and "id" in data:
        return f" of record {data['id']!r}"
    return ""


def apply_transform(transform: Callable[[Any], Any], data: Any) -> Any:
    """Apply one transform to a record, or to each record of a list.

    Any exception keeps its type and traceback and gains a note naming the
    transform and the record's id.

    Args:
        transform: The transform, any callable taking a record.
        data: A record, or a list of records; a transform that returns a list for a
            record adds each of its records to the result.
    """
    if isinstance(data, list):
        results = []
        for item in data:
            result = apply_transform(transform, item)
            results.extend(result if isinstance(result, list) else [result])
        return results
    try:
        return transform(data)
    except Exception as error:
        name = type(transform).__name__
        error.add_note(f"unetseg: raised by transform {name}{_record_id(data)}.")
        raise


class Compose(Randomizable, Transform):
    """Apply transforms in order.

    Args:
        transforms: The steps. A step that returns a list of records (such as a
            patch sampler with several samples) makes every later step run on each.
        seed: Seed every random step (each gets its own stream, derived from this
            seed), so the whole pipeline is reproducible.

    Example:
        >>> import numpy as np
        >>> from unetseg.transforms import NormalizeIntensityd, RandScaleIntensityd
        >>> pipeline = Compose(
        ...     [NormalizeIntensityd("image"), RandScaleIntensityd("image", factors=0.1, prob=1.0)],
        ...     seed=0,
        ... )
        >>> record = {"id": "case_0", "image": np.arange(8, dtype="float32").reshape(2, 2, 2, 1)}
        >>> pipeline(record)["image"].shape
        (2, 2, 2, 1)
    """

    def __init__(self, transforms: Sequence[Callable[[Any], Any]], seed: int | None = None) -> None:
        super().__init__()
        if callable(transforms):
            transforms = [transforms]
        self.transforms = list(transforms)
        for step in self.transforms:
            if not callable(step):
                raise ConfigError(f"Compose steps must be callable, got {step!r}.")
        self.seed = seed
        if seed is not None:
            self.set_random_state(seed)

    def set_random_state(
        self, seed: int | None = None, rng: np.random.Generator | None = None
    ) -> Compose:
        super().set_random_state(seed, rng)
        sequence = np.random.SeedSequence(seed) if seed is not None else None
        for step in self.transforms:
            if isinstance(step, Randomizable):
                if sequence is not None:
                    step.set_random_state(seed=int(sequence.spawn(1)[0].generate_state(1)[0]))
                else:
                    step.set_random_state(rng=np.random.default_rng(self.rng.integers(2**63)))
        return self

    def __call__(self, data: Any) -> Any:
        for step in self.transforms:
            data = apply_transform(step, data)
        return data

    def __len__(self) -> int:
        return len(self.transforms)

    def inverse(self, record: dict) -> dict:
        """Undo the recorded spatial operations of every key, newest first.

        Crops, pads, flips and rotations of the dictionary transforms are recorded in
        ``record["<key>_meta"]["applied"]``; this maps each such key back onto its
        original grid and clears the record of operations. To map a prediction back
        with the image's operations, use :class:`~unetseg.transforms.Invertd`.
        """
        result = dict(record)
        for key in list(result):
            meta = result.get(meta_key(key))
            if isinstance(meta, dict) and meta.get("applied"):
                result[key] = invert(result[key], meta)
                result[meta_key(key)] = {**meta, "applied": []}
        return result


class OneOf(Randomizable, Transform):
    """Apply one of several transforms, picked at random on each call.

    Args:
        transforms: The candidates.
        weights: Relative probabilities (uniform by default).
    """

    def __init__(
        self, transforms: Sequence[Callable[[Any], Any]], weights: Sequence[float] | None = None
    ) -> None:
        super().__init__()
        self.transforms = list(transforms)
        if not self.transforms:
            raise ConfigError("OneOf needs at least one transform.")
        if weights is None:
            weights = [1.0] * len(self.transforms)
        weights = [float(w) for w in weights]
        if len(weights) != len(self.transforms) or min(weights) < 0 or sum(weights) <= 0:
            raise ConfigError(
                f"OneOf weights must be one non-negative number per transform with a positive "
                f"sum, got {weights} for {len(self.transforms)} transforms."
            )
        total = sum(weights)
        self.weights = [w / total for w in weights]
        self._index = 0

    def set_random_state(
        self, seed: int | None = None, rng: np.random.Generator | None = None
    ) -> OneOf:
        super().set_random_state(seed, rng)
        for step in self.transforms:
            if isinstance(step, Randomizable):
                step.set_random_state(rng=np.random.default_rng(self.rng.integers(2**63)))
        return self

    def randomize(self, data: Any = None) -> None:
        self._index = int(self.rng.choice(len(self.transforms), p=self.weights))

    def __call__(self, data: Any) -> Any:
        self.randomize(data)
        return apply_transform(self.transforms[self._index], data)
