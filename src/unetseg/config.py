"""Typed configuration: dataclasses that check themselves and round-trip through JSON.

:class:`ConfigSection` is the base of the Trainer's and the recipes' configuration
(``TrainerConfig``, ``RecipeConfig`` and its sections). A section is a dataclass:

- :meth:`ConfigSection.from_dict` reads plain values (from JSON or TOML), refusing
  unknown keys with a "did you mean", checking each value against the field's type
  (``int``, ``float``, ``bool``, ``str``, ``tuple[int, ...]``, ``X | None``, ``dict``,
  nested sections) and converting lists to tuples;
- ``__post_init__`` checks ranges and rules between fields, with
  :meth:`ConfigSection.check`;
- :meth:`ConfigSection.to_dict` gives the plain values back, so
  ``from_dict(to_dict())`` is the identity;
- :meth:`ConfigSection.replace` makes a checked copy with some fields changed.

Every message names the setting in full (``train.epochs``), what was expected and
what was found. TOML cannot write "nothing": an optional field is left out of the
file, or set to the text ``"none"``.

Example:
    >>> import dataclasses
    >>> @dataclasses.dataclass(frozen=True)
    ... class Window(ConfigSection):
    ...     size: tuple[int, ...] = (64, 64)
    ...     overlap: float = 0.5
    ...     def __post_init__(self):
    ...         self.check(0 <= self.overlap < 1, "overlap", "must be in [0, 1)")
    >>> Window.from_dict({"size": [32, 32]})
    Window(size=(32, 32), overlap=0.5)
    >>> Window.from_dict({"overlap": 1})
    Traceback (most recent call last):
    ...
    unetseg.errors.ConfigError: overlap must be in [0, 1), got 1.0.
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Mapping
from typing import Any, ClassVar, Self

from unetseg.errors import ConfigError, did_you_mean

__all__ = ["ConfigSection"]


class ConfigSection:
    """Base of typed configuration dataclasses (see the module documentation).

    Subclasses are ``@dataclasses.dataclass(frozen=True)`` classes; ``prefix`` is the
    name of the section in messages (``"train"`` makes ``train.epochs``).
    """

    prefix: ClassVar[str] = ""

    # -- reading --------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: Mapping[str, Any] | None, *, where: str = "") -> Self:
        """Build the section from plain values; missing fields keep their defaults.

        Args:
            values: Field name → value (lists for tuples, mappings for sections).
            where: Where the values come from (a file name), put before any message.

        Raises:
            ConfigError: For an unknown key, a value of the wrong type or out of range.
        """
        values = dict(values or {})
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        prefix = f"{where}: " if where else ""
        for key in values:
            if key not in fields:
                hint = did_you_mean(key, list(fields))
                raise ConfigError(
                    f"{prefix}unknown setting {cls._name(key)}.{hint} "
                    f"{(cls.prefix and f'[{cls.prefix}] has') or 'The settings are'} "
                    f"{', '.join(fields)}."
                )
        missing = [
            f.name
            for f in fields.values()
            if f.name not in values
            and f.default is dataclasses.MISSING
            and f.default_factory is dataclasses.MISSING
        ]
        if missing:
            raise ConfigError(
                f"{prefix}{', '.join(cls._name(m) for m in missing)} must be given "
                f"({cls.__name__} has no default for {'it' if len(missing) == 1 else 'them'})."
            )
        hints = _type_hints(cls)
        converted = {
            key: _convert(value, hints[key], cls._name(key), where) for key, value in values.items()
        }
        try:
            return cls(**converted)
        except ConfigError as error:
            if prefix and not str(error).startswith(prefix):
                raise type(error)(f"{prefix}{error}") from error  # keeps UnknownNameError
            raise

    # -- writing --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """The section as plain JSON-compatible values (tuples as lists)."""
        return {
            f.name: _plain(getattr(self, f.name))
            for f in dataclasses.fields(self)  # type: ignore[arg-type]
        }

    def replace(self, **changes: Any) -> Self:
        """A checked copy with ``changes`` applied (plain values are converted as in
        :meth:`from_dict`; a mapping given for a nested section changes only its keys).

        Raises:
            ConfigError: As :meth:`from_dict`.
        """
        values = self._fields()
        for key, change in changes.items():
            current = values.get(key)
            if isinstance(current, ConfigSection) and isinstance(change, Mapping):
                change = current.replace(**change)  # a partial change of a nested section
            values[key] = change
        return type(self).from_dict(values)

    def _fields(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]

    # -- checking -------------------------------------------------------------------
    @classmethod
    def _name(cls, field: str) -> str:
        return f"{cls.prefix}.{field}" if cls.prefix else field

    def check(self, condition: bool, field: str, expectation: str) -> None:
        """Raise a :class:`~unetseg.errors.ConfigError` naming ``field`` and its value,
        unless ``condition``.

        ``expectation`` completes "<section.field> ...", e.g. ``"must be >= 1"``.
        """
        if not condition:
            value = getattr(self, field, None)
            raise ConfigError(f"{self._name(field)} {expectation}, got {value!r}.")


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    return typing.get_type_hints(cls)


def _plain(value: Any) -> Any:
    if isinstance(value, ConfigSection):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return to_dict()
    return value


def _describe(hint: Any) -> str:
    names = {int: "an integer", float: "a number", bool: "true or false", str: "text"}
    if hint in names:
        return names[hint]
    origin = typing.get_origin(hint)
    if origin is tuple:
        arguments = typing.get_args(hint)
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            return f"a list of {_describe(arguments[0]).removeprefix('an ').removeprefix('a ')}s"
        return f"a list of {len(arguments)} values"
    if origin in (dict, Mapping) or hint is dict:
        return "a table"
    return getattr(hint, "__name__", str(hint))


def _convert(value: Any, hint: Any, name: str, where: str) -> Any:
    """Check ``value`` against the type ``hint``; convert lists to tuples, ints to floats."""
    prefix = f"{where}: " if where else ""

    def wrong(expected: str) -> ConfigError:
        return ConfigError(f"{prefix}{name} must be {expected}, got {value!r}.")

    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = [a for a in typing.get_args(hint) if a is not type(None)]
        optional = len(options) < len(typing.get_args(hint))
        if optional and (value is None or (isinstance(value, str) and value.lower() == "none")):
            return None
        errors = []
        for option in options:
            try:
                return _convert(value, option, name, where)
            except ConfigError as error:
                errors.append(error)
        raise wrong(" or ".join(_describe(o) for o in options)) from errors[0]
    if hint is Any:
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise wrong("true or false")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise wrong("an integer")
        return value
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise wrong("a number")
        return float(value)
    if hint is str:
        if not isinstance(value, str):
            raise wrong("text")
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise wrong(_describe(hint))
        arguments = typing.get_args(hint)
        if len(arguments) == 2 and arguments[1] is Ellipsis:
            items = [arguments[0]] * len(value)
        elif len(arguments) != len(value):
            raise wrong(_describe(hint))
        else:
            items = list(arguments)
        return tuple(
            _convert(v, h, f"{name}[{i}]", where)
            for i, (v, h) in enumerate(zip(value, items, strict=True))
        )
    if origin in (dict, Mapping) or hint is dict:
        if not isinstance(value, Mapping):
            raise wrong("a table")
        return dict(value)
    if isinstance(hint, type) and issubclass(hint, ConfigSection):
        if isinstance(value, hint):
            return value
        if not isinstance(value, Mapping):
            raise wrong(f"a table of [{hint.prefix or name}] settings")
        return hint.from_dict(value, where=where)
    return value  # other types (a Task, say) are checked by the section itself
