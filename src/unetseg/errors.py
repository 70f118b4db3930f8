"""The exceptions and warnings that unetseg raises, and helpers for their messages.

Every error a user can cause derives from :class:`UnetsegError`, so one
``except UnetsegError`` catches them all. The common kinds also derive from the
built-in exception a Python programmer would expect: a bad option is a
:class:`ConfigError` *and* a :class:`ValueError`; bad data is a
:class:`DataError` *and* a :class:`ValueError`; an unknown registry name is an
:class:`UnknownNameError` *and* a :class:`LookupError`.

A message says what was wrong, where (file, key, case id), what was expected and
what was found, so that the user never has to read a deep NumPy or TensorFlow
traceback to find a mistake we could have caught at the door.
"""

from __future__ import annotations

import contextlib
import difflib
from collections.abc import Iterable, Iterator

__all__ = [
    "ConfigError",
    "DataError",
    "MissingDependencyError",
    "PluginWarning",
    "RegistrationError",
    "UnetsegError",
    "UnknownNameError",
    "check_choice",
    "did_you_mean",
    "in_case",
]


class UnetsegError(Exception):
    """Base class of every error raised by unetseg on purpose."""


class ConfigError(UnetsegError, ValueError):
    """An option, argument or configuration value is invalid.

    Example:
        >>> raise ConfigError("overlap must be in [0, 1), got 1.5")
        Traceback (most recent call last):
        ...
        unetseg.errors.ConfigError: overlap must be in [0, 1), got 1.5
    """


class DataError(UnetsegError, ValueError):
    """Input data is invalid: a corrupt file, a wrong shape, a NaN, a missing case."""


class UnknownNameError(ConfigError, LookupError):
    """A name was looked up in a registry (or a set of options) that does not hold it."""

    # LookupError is listed for ``except LookupError``; the message is plain text,
    # not the quoted key that KeyError would print.
    __str__ = Exception.__str__


class RegistrationError(ConfigError):
    """A name could not be registered, for example because it is already taken."""


class MissingDependencyError(UnetsegError, ImportError):
    """An optional dependency is not installed; the message names the extra to install."""


class PluginWarning(UserWarning):
    """A third-party plugin could not be loaded; unetseg goes on without it."""


@contextlib.contextmanager
def in_case(case_id: object) -> Iterator[None]:
    """Name the case in any error raised by the block: work on one case of many (caching,
    prediction) must say which case failed.

    A :class:`UnetsegError` keeps its type and gains the prefix ``Case '<id>':`` unless
    its message names the case already; an :class:`OSError` (an unreadable file)
    becomes a :class:`DataError` with that prefix. Other exceptions are bugs, not bad
    data, and pass unchanged (with a note naming the case).

    Args:
        case_id: The case's id, put in messages as ``str(case_id)`` quoted.

    Example:
        >>> with in_case("BraTS20_Training_007"):
        ...     raise DataError("the label map contains labels [3]")
        Traceback (most recent call last):
        ...
        unetseg.errors.DataError: Case 'BraTS20_Training_007': the label map contains labels [3]
    """
    try:
        yield
    except UnetsegError as error:
        if repr(str(case_id)) in str(error):  # named already (quoted, as messages do)
            raise
        raise type(error)(f"Case {str(case_id)!r}: {error}") from error
    except OSError as error:
        raise DataError(f"Case {str(case_id)!r}: {error}") from error
    except Exception as error:
        error.add_note(f"unetseg: while processing case {str(case_id)!r}.")
        raise


def did_you_mean(name: str, candidates: Iterable[str], *, n: int = 3) -> str:
    """Return a short "did you mean" hint for ``name`` among ``candidates``.

    Args:
        name: The name that was not found.
        candidates: The names that exist.
        n: How many suggestions to give at most.

    Returns:
        ``" Did you mean 'dice'?"`` (with a leading space) when close matches
        exist, otherwise an empty string, so the hint can be appended to a message.

    Example:
        >>> did_you_mean("dcie", ["dice", "focal", "tversky"])
        " Did you mean 'dice'?"
        >>> did_you_mean("xyz", ["dice"])
        ''
    """
    candidates = list(candidates)
    matches = difflib.get_close_matches(name, candidates, n=n, cutoff=0.6)
    if not matches:
        lowered = name.lower()
        matches = [
            c for c in candidates if lowered and (lowered in c.lower() or c.lower() in lowered)
        ][:n]
    if not matches:
        return ""
    quoted = " or ".join(f"'{m}'" for m in matches)
    return f" Did you mean {quoted}?"


def check_choice(value: str, choices: Iterable[str], *, what: str) -> str:
    """Validate a string option against its allowed values.

    Comparison ignores case, so ``"Gaussian"`` and ``"gaussian"`` are the same option.

    Args:
        value: The value the user gave.
        choices: The allowed values, in the spelling the library uses.
        what: What the option is, for the message (``"mode"``, ``"norm"``).

    Returns:
        The allowed value that matches, in the library's spelling.

    Raises:
        UnknownNameError: If ``value`` is not one of ``choices``; the message lists the
            choices and suggests close matches.

    Example:
        >>> check_choice("Gaussian", ["constant", "gaussian"], what="mode")
        'gaussian'
    """
    choices = list(choices)
    if isinstance(value, str):
        for choice in choices:
            if choice.lower() == value.lower():
                return choice
    hint = did_you_mean(str(value), choices)
    allowed = ", ".join(repr(c) for c in choices)
    raise UnknownNameError(f"Unknown {what} {value!r}.{hint} Expected one of: {allowed}.")
