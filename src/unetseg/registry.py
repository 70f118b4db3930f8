"""Named registries of components, extensible by third-party packages.

One generic :class:`Registry` serves every kind of component: losses, metrics,
networks, normalisation layers, activations, schedules, optimisers, tasks, the
inverses of spatial operations. unetseg's own registries are declared together in
:mod:`unetseg.registries`. Registering is one decorator, and listing and creating by
name are one call each:

>>> from unetseg.registry import Registry
>>> SHAPES = Registry("shape")
>>> @SHAPES.register("square")
... class Square:
...     def __init__(self, side=1.0):
...         self.side = side
>>> SHAPES.names()
['square']
>>> SHAPES.create("square", side=2.0).side
2.0

Names are case-insensitive and ``-`` equals ``_``, so ``"Leaky-ReLU"`` finds
``"leaky_relu"``. An unknown name raises :class:`~unetseg.errors.UnknownNameError`
with close matches; registering a taken name raises
:class:`~unetseg.errors.RegistrationError` unless ``overwrite=True``.

**Plugins.** A registry with an entry-point group (``unetseg.losses`` for the loss
registry, say) loads the entry points of that group on its first lookup, so a
``pip install``-ed package adds its names with no import by the user. An entry
point either names a component, which is registered under the entry point's name::

    [project.entry-points."unetseg.losses"]
    boundary = "my_package.losses:BoundaryLoss"

or names a module whose import registers its components with the decorator. A
plugin that fails to import or to register produces a
:class:`~unetseg.errors.PluginWarning` naming it, and the host goes on without it.

**Keras serialisation.** A registry made with ``keras_serializable=True``
also registers each entry with :func:`keras.saving.register_keras_serializable`,
under the package of the module that defines it (``unetseg>Dice`` for ours,
``my_package>BoundaryLoss`` for a plugin's), so a saved model loads without
``custom_objects``. Keras is imported only when such an entry is registered.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import re
import threading
import types
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Generic, TypeVar

from unetseg.errors import (
    ConfigError,
    PluginWarning,
    RegistrationError,
    UnknownNameError,
    did_you_mean,
)

__all__ = [
    "KERAS_COMPONENT_MODULES",
    "Registry",
    "accepted_keywords",
    "all_registries",
    "load_keras_components",
    "normalize_name",
]

#: The modules whose import registers Keras-serialisable objects (layers, losses,
#: metrics, schedules), named as strings so the foundation imports nothing above it.
KERAS_COMPONENT_MODULES = (
    "unetseg.networks",
    "unetseg.losses",
    "unetseg.metrics",
    "unetseg.training.schedules",
)

T = TypeVar("T")

_ALL_REGISTRIES: dict[str, Registry[Any]] = {}


def normalize_name(name: str) -> str:
    """Return the canonical form of a registry name: stripped, lower case, ``-`` as ``_``.

    Args:
        name: The name as given; a non-empty string.

    Example:
        >>> normalize_name(" Leaky-ReLU ")
        'leaky_relu'
    """
    if not isinstance(name, str):
        raise ConfigError(f"A registry name must be a string, got {type(name).__name__} {name!r}.")
    normalized = name.strip().lower().replace("-", "_")
    if not normalized:
        raise ConfigError("A registry name must not be empty.")
    return normalized


def load_keras_components() -> None:
    """Import every unetseg module that registers Keras objects.

    Call it before ``keras.saving.load_model`` in a process that has not imported
    them, so a saved model (with its loss, metrics and learning-rate schedule) loads
    with no ``custom_objects``. Importing ``unetseg`` alone does not import Keras.
    """
    for module in KERAS_COMPONENT_MODULES:
        importlib.import_module(module)


def accepted_keywords(factory: Callable[..., Any]) -> set[str]:
    """The keyword arguments ``factory`` names, following ``**kwargs`` up a class's bases.

    For a class, each ``__init__`` in its method resolution order that passes
    ``**kwargs`` on adds the names of the next one, so a subclass that forwards its
    options is credited with its base's. Callers use this to offer defaults (an
    activation, a channel count) only to components that take them.

    Args:
        factory: A class (its constructors are inspected) or another callable.

    Example:
        >>> class Base:
        ...     def __init__(self, *, activation="sigmoid"): ...
        >>> class Child(Base):
        ...     def __init__(self, weight=1.0, **kwargs): super().__init__(**kwargs)
        >>> sorted(accepted_keywords(Child))
        ['activation', 'weight']
    """
    targets = (
        [c.__init__ for c in factory.__mro__ if "__init__" in vars(c)]
        if isinstance(factory, type)
        else [factory]
    )
    names: set[str] = set()
    for target in targets:
        try:
            parameters = inspect.signature(target).parameters.values()
        except (TypeError, ValueError):
            break
        names |= {
            p.name
            for p in parameters
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "self"
        }
        if not any(p.kind is p.VAR_KEYWORD for p in parameters):
            break
    return names


def all_registries() -> dict[str, Registry[Any]]:
    """Return the pluggable registries (those with an entry-point group), by group.

    The command line's ``info`` and the quickstart example use this to show what
    is installed, plugins included.
    """
    return dict(_ALL_REGISTRIES)


class Registry(Generic[T]):
    """A name → component mapping with plugin discovery.

    Args:
        kind: What the registry holds, in the singular (``"loss"``); used in messages.
        entry_point_group: The entry-point group plugins use to add entries, for
            example ``"unetseg.losses"``. ``None`` disables plugin discovery. A
            registry with a group is listed by :func:`~unetseg.registry.all_registries`.
        keras_serializable: Whether to register every entry with Keras'
            serialisation framework as well.
        builtins: The module whose import registers the built-in entries
            (``"unetseg.losses"``), imported on the first lookup, before the plugins;
            so a registry declared in :mod:`unetseg.registries` finds its entries
            without the caller importing where they are defined.

    Raises:
        RegistrationError: If another registry already uses ``entry_point_group``.

    Example:
        >>> ACTIVATIONS = Registry("example activation")
        >>> ACTIVATIONS.register("double", lambda x: 2 * x)
        <function <lambda> at ...>
        >>> ACTIVATIONS.get("Double")(21)
        42
    """

    def __init__(
        self,
        kind: str,
        *,
        entry_point_group: str | None = None,
        keras_serializable: bool = False,
        builtins: str | None = None,
    ) -> None:
        if entry_point_group is not None and entry_point_group in _ALL_REGISTRIES:
            raise RegistrationError(
                f"The entry-point group {entry_point_group!r} already belongs to "
                f"{_ALL_REGISTRIES[entry_point_group]!r}."
            )
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.keras_serializable = keras_serializable
        self._entries: dict[str, T] = {}
        self.builtins = builtins
        self._builtins_loaded = builtins is None
        self._builtins_loading = False
        self._plugins_loaded = entry_point_group is None
        self._lock = threading.RLock()
        if entry_point_group is not None:
            _ALL_REGISTRIES[entry_point_group] = self

    def __repr__(self) -> str:
        group = f", entry_point_group={self.entry_point_group!r}" if self.entry_point_group else ""
        return f"Registry({self.kind!r}{group}, {len(self._entries)} entries)"

    # -- registering -----------------------------------------------------------------

    def register(
        self,
        name: str | Callable[..., Any] | None = None,
        obj: T | None = None,
        *,
        overwrite: bool = False,
    ) -> Any:
        """Register ``obj`` under ``name``, as a decorator or as a plain call.

        Args:
            name: The name to register under. Omitted (``@REG.register`` or
                ``@REG.register()``), the object's ``__name__`` in lower case is used.
            obj: The component. Omitted, ``register`` returns a decorator.
            overwrite: Replace an existing entry of the same name instead of refusing.

        Returns:
            ``obj`` itself when given (so the decorator leaves the class unchanged),
            otherwise a decorator.

        Raises:
            RegistrationError: If ``name`` is taken and ``overwrite`` is false, or if
                Keras refuses the object (a class without ``get_config``).

        Example:
            >>> LAYERS = Registry("example layer")
            >>> @LAYERS.register
            ... class Identity:
            ...     pass
            >>> "identity" in LAYERS
            True
        """
        if callable(name) and obj is None and not isinstance(name, str):
            # Bare decorator: @REG.register
            return self._add(None, name, overwrite=overwrite)
        if obj is not None:
            return self._add(name, obj, overwrite=overwrite)

        def decorator(component: T) -> T:
            return self._add(name, component, overwrite=overwrite)

        return decorator

    def unregister(self, name: str) -> T:
        """Remove an entry and return it.

        Raises:
            UnknownNameError: If no entry has this name.
        """
        key = self._lookup_key(name)
        with self._lock:
            return self._entries.pop(key)

    def _add(self, name: str | None, obj: T, *, overwrite: bool) -> T:
        self._load_builtins()  # so a clash with a built-in name shows here, not later
        if name is None:
            name = getattr(obj, "__name__", None)
            if name is None:
                raise RegistrationError(
                    f"Cannot infer a {self.kind} name for {obj!r}; pass the name explicitly."
                )
        key = normalize_name(name)
        with self._lock:
            existing = self._entries.get(key)
            if existing is not None and existing is not obj and not overwrite:
                raise RegistrationError(
                    f"The {self.kind} name {key!r} is already registered to "
                    f"{_describe(existing)}; refusing to replace it with {_describe(obj)}. "
                    "Pass overwrite=True to replace it, or choose another name."
                )
            if self.keras_serializable:
                _register_with_keras(obj, self.kind, key)
            self._entries[key] = obj
        return obj

    # -- looking up ------------------------------------------------------------------

    def get(self, name: str) -> T:
        """Return the component registered as ``name``.

        Raises:
            UnknownNameError: If no entry has this name; the message suggests close
                matches and lists what is available.
        """
        return self._entries[self._lookup_key(name)]

    def create(self, spec: str | tuple[str, Mapping[str, Any]], /, **kwargs: Any) -> Any:
        """Call the component registered under a name, with keyword arguments.

        Args:
            spec: A name (``"dice"``), or a ``(name, kwargs)`` pair
                (``("group", {"groups": 8})``) as configuration files write it.
            **kwargs: Keyword arguments, added to (and overriding) those of ``spec``.

        Returns:
            What the component returns: an instance for a class, a model for a
            builder function.

        Raises:
            UnknownNameError: If the name is not registered.
            ConfigError: If ``spec`` is malformed, or the component rejects the
                keyword arguments (the message names the component and the arguments).

        Example:
            >>> NORMS = Registry("example norm")
            >>> @NORMS.register("group")
            ... class GroupNorm:
            ...     def __init__(self, groups=32):
            ...         self.groups = groups
            >>> NORMS.create(("group", {"groups": 8})).groups
            8
        """
        name, spec_kwargs = self.split_spec(spec)
        factory = self.get(name)
        arguments = {**spec_kwargs, **kwargs}
        try:
            return factory(**arguments)
        except TypeError as error:
            # Only a signature mismatch is translated; TypeErrors raised inside the
            # component are its own business and keep their traceback.
            if not _is_signature_error(factory, arguments, error):
                raise
            raise ConfigError(
                f"Cannot create {self.kind} {normalize_name(name)!r} "
                f"({_describe(factory)}) with arguments {sorted(arguments)}: {error}"
            ) from error

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        self.load_plugins()
        return sorted(self._entries)

    def items(self) -> list[tuple[str, T]]:
        """Return ``(name, component)`` pairs, sorted by name."""
        self.load_plugins()
        return sorted(self._entries.items())

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str) or not name.strip():
            return False
        self.load_plugins()
        return normalize_name(name) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.load_plugins()
        return len(self._entries)

    def _lookup_key(self, name: str) -> str:
        key = normalize_name(name)
        self.load_plugins()
        if key not in self._entries:
            available = sorted(self._entries)
            hint = did_you_mean(key, available)
            listing = ", ".join(available) if available else "none"
            raise UnknownNameError(f"Unknown {self.kind} {name!r}.{hint} Available: {listing}.")
        return key

    def split_spec(self, spec: Any) -> tuple[str, Mapping[str, Any]]:
        """Split a name or ``(name, kwargs)`` pair into the name and the keyword arguments.

        Raises:
            ConfigError: If ``spec`` is neither.
        """
        if isinstance(spec, str):
            return spec, {}
        if (
            isinstance(spec, (tuple, list))
            and len(spec) == 2
            and isinstance(spec[0], str)
            and isinstance(spec[1], Mapping)
        ):
            return spec[0], spec[1]
        raise ConfigError(
            f"A {self.kind} must be given as a name or a (name, kwargs) pair, got {spec!r}."
        )

    # -- plugins ---------------------------------------------------------------------

    def load_plugins(self, *, reload: bool = False) -> None:
        """Load the entry points of this registry's group (done once, on first lookup).

        Args:
            reload: Look at the installed entry points again, for packages installed
                after the first lookup.
        """
        self._load_builtins()
        if self._plugins_loaded and not reload:
            return
        with self._lock:
            if self._plugins_loaded and not reload:
                return
            # Set first: a plugin that looks names up while it loads must not recurse.
            self._plugins_loaded = True
            if self.entry_point_group is None:
                return
            for entry_point in importlib.metadata.entry_points(group=self.entry_point_group):
                self._load_entry_point(entry_point)

    def _load_builtins(self) -> None:
        if self._builtins_loaded:
            return
        # Other threads wait here until the import is done; the importing thread itself
        # passes (the lock is re-entrant), as the module registers and looks names up.
        with self._lock:
            if self._builtins_loaded or self._builtins_loading:
                return
            self._builtins_loading = True
            try:
                assert self.builtins is not None
                importlib.import_module(self.builtins)
                self._builtins_loaded = True
            finally:
                self._builtins_loading = False

    def _load_entry_point(self, entry_point: importlib.metadata.EntryPoint) -> None:
        origin = _describe_entry_point(entry_point)
        try:
            loaded = entry_point.load()
        except Exception as error:  # noqa: BLE001 - a broken plugin must not crash the host
            warnings.warn(
                f"unetseg could not load the {self.kind} plugin {origin}: "
                f"{type(error).__name__}: {error}. It is skipped.",
                PluginWarning,
                stacklevel=3,
            )
            return
        if isinstance(loaded, types.ModuleType):
            return  # importing the module registered its components
        try:
            self._add(entry_point.name, loaded, overwrite=False)
        except Exception as error:  # noqa: BLE001
            warnings.warn(
                f"unetseg could not register the {self.kind} plugin {origin}: {error} "
                "It is skipped.",
                PluginWarning,
                stacklevel=3,
            )


def _describe(obj: Any) -> str:
    module = getattr(obj, "__module__", None)
    qualname = getattr(obj, "__qualname__", None)
    if module and qualname:
        return f"{module}.{qualname}"
    return repr(obj)


def _describe_entry_point(entry_point: importlib.metadata.EntryPoint) -> str:
    dist = getattr(entry_point, "dist", None)
    source = f" from distribution '{dist.name} {dist.version}'" if dist is not None else ""
    return f"'{entry_point.name} = {entry_point.value}' (group '{entry_point.group}'{source})"


_SIGNATURE_MESSAGES = re.compile(
    r"unexpected keyword argument|missing \d+ required|takes \d+ positional|positional argument"
)


def _is_signature_error(
    factory: Callable[..., Any], arguments: Mapping[str, Any], error: TypeError
) -> bool:
    """Whether ``error`` says the arguments do not fit the call (not a bug inside it).

    Binding against the signature catches most mismatches; a class that passes
    ``**kwargs`` on to its base class is caught by Python's own wording.
    """
    if _SIGNATURE_MESSAGES.search(str(error)):
        return True
    target = factory.__init__ if isinstance(factory, type) else factory
    try:
        signature = inspect.signature(target)
    except (TypeError, ValueError):
        return False
    try:
        if isinstance(factory, type):
            signature.bind(None, **arguments)
        else:
            signature.bind(**arguments)
    except TypeError:
        return True
    return False


def _register_with_keras(obj: Any, kind: str, key: str) -> None:
    import keras

    package = (getattr(obj, "__module__", None) or "unetseg").split(".")[0]
    if keras.saving.get_registered_name(obj) != getattr(obj, "__name__", None):
        return  # already registered (an alias of the same class, or by its author)
    try:
        keras.saving.register_keras_serializable(package=package)(obj)
    except ValueError as error:
        raise RegistrationError(
            f"Cannot register {kind} {key!r} ({_describe(obj)}) with Keras: {error}"
        ) from error
