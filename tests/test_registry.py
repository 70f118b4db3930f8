from __future__ import annotations

import importlib
import sys
import textwrap
import uuid
import warnings
from pathlib import Path

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from unetseg.errors import (
    ConfigError,
    PluginWarning,
    RegistrationError,
    UnknownNameError,
)
from unetseg.registry import Registry, all_registries, normalize_name


class Square:
    def __init__(self, side: float = 1.0) -> None:
        self.side = side


class Circle:
    def __init__(self, radius: float = 1.0) -> None:
        self.radius = radius


@pytest.fixture
def shapes() -> Registry:
    return Registry("shape")


# -- registering and looking up ----------------------------------------------------------


def test_register_as_decorator_with_name(shapes):
    decorated = shapes.register("square")(Square)
    assert decorated is Square
    assert shapes.get("square") is Square


def test_register_as_bare_decorator_uses_lowercase_class_name(shapes):
    @shapes.register
    class Triangle:
        pass

    @shapes.register()
    class Hexagon:
        pass

    assert shapes.names() == ["hexagon", "triangle"]


def test_register_as_plain_call(shapes):
    assert shapes.register("circle", Circle) is Circle
    assert "circle" in shapes


def test_names_are_sorted_and_iteration_follows_them(shapes):
    shapes.register("square", Square)
    shapes.register("circle", Circle)
    assert shapes.names() == ["circle", "square"]
    assert list(shapes) == ["circle", "square"]
    assert len(shapes) == 2
    assert shapes.items() == [("circle", Circle), ("square", Square)]


def test_lookup_ignores_case_and_dash_versus_underscore(shapes):
    shapes.register("Leaky_ReLU", Square)
    assert shapes.get("leaky-relu") is Square
    assert "LEAKY_RELU" in shapes
    assert shapes.names() == ["leaky_relu"]


@pytest.mark.parametrize("name", [" Leaky-ReLU ", "leaky_relu", "LEAKY-relu"])
def test_normalize_name(name):
    assert normalize_name(name) == "leaky_relu"


@pytest.mark.parametrize("bad", ["", "   ", 3, None])
def test_invalid_names_are_refused(shapes, bad):
    with pytest.raises(ConfigError):
        shapes.register(bad, Square) if bad is not None else normalize_name(bad)


def test_membership_of_non_strings_is_false(shapes):
    shapes.register("square", Square)
    assert 3 not in shapes
    assert "" not in shapes


def test_create_passes_keyword_arguments(shapes):
    shapes.register("square", Square)
    assert shapes.create("square", side=3.0).side == 3.0


def test_create_accepts_name_and_kwargs_pair(shapes):
    shapes.register("square", Square)
    assert shapes.create(("square", {"side": 2.0})).side == 2.0
    assert shapes.create(["square", {"side": 2.0}], side=5.0).side == 5.0  # kwargs win


@pytest.mark.parametrize("spec", [("square",), ("square", 2.0), 3, ("square", {}, {})])
def test_create_rejects_malformed_specs(shapes, spec):
    shapes.register("square", Square)
    with pytest.raises(ConfigError, match="name or a \\(name, kwargs\\) pair"):
        shapes.create(spec)


def test_create_with_wrong_arguments_names_component_and_arguments(shapes):
    shapes.register("square", Square)
    with pytest.raises(ConfigError) as info:
        shapes.create("square", sidee=2.0)
    message = str(info.value)
    assert "shape 'square'" in message
    assert "Square" in message
    assert "sidee" in message
    assert isinstance(info.value.__cause__, TypeError)


def test_type_error_inside_component_is_not_disguised(shapes):
    @shapes.register("broken")
    class Broken:
        def __init__(self, side=1):
            raise TypeError("a bug inside the component")

    with pytest.raises(TypeError, match="a bug inside the component") as info:
        shapes.create("broken", side=2)
    assert not isinstance(info.value, ConfigError)


def test_create_calls_functions_too(shapes):
    shapes.register("double", lambda x=1: 2 * x)
    assert shapes.create("double", x=21) == 42


def test_unregister(shapes):
    shapes.register("square", Square)
    assert shapes.unregister("Square") is Square
    assert "square" not in shapes
    with pytest.raises(UnknownNameError):
        shapes.unregister("square")


# -- errors ---------------------------------------------------------------------------


def test_unknown_name_suggests_close_matches_and_lists_available(shapes):
    shapes.register("square", Square)
    shapes.register("circle", Circle)
    with pytest.raises(UnknownNameError) as info:
        shapes.get("sqare")
    message = str(info.value)
    assert message.startswith("Unknown shape 'sqare'.")
    assert "Did you mean 'square'?" in message
    assert "Available: circle, square." in message
    assert isinstance(info.value, LookupError)
    assert isinstance(info.value, ValueError)


def test_unknown_name_in_empty_registry(shapes):
    with pytest.raises(UnknownNameError, match="Available: none"):
        shapes.create("square")


def test_duplicate_name_is_refused(shapes):
    shapes.register("square", Square)
    with pytest.raises(RegistrationError) as info:
        shapes.register("SQUARE", Circle)
    message = str(info.value)
    assert "'square' is already registered to" in message
    assert "Square" in message
    assert "Circle" in message
    assert "overwrite=True" in message
    assert shapes.get("square") is Square  # nothing changed


def test_duplicate_name_replaced_when_asked(shapes):
    shapes.register("square", Square)
    shapes.register("square", Circle, overwrite=True)
    assert shapes.get("square") is Circle


def test_registering_the_same_object_twice_is_harmless(shapes):
    shapes.register("square", Square)
    shapes.register("square", Square)
    assert shapes.names() == ["square"]


def test_object_without_name_needs_explicit_name(shapes):
    with pytest.raises(RegistrationError, match="pass the name explicitly"):
        shapes.register(obj=Square(), name=None)


def test_repr_mentions_kind_and_group(isolated_registry_index):
    registry = Registry("shape", entry_point_group="unetseg.test_repr_shapes")
    assert (
        repr(registry)
        == "Registry('shape', entry_point_group='unetseg.test_repr_shapes', 0 entries)"
    )


# -- plugins through entry points ----------------------------------------------------------


def install_distribution(
    site: Path, dist_name: str, module_name: str, module_source: str, entry_points: str
) -> None:
    """Install a tiny distribution into ``site`` the way pip lays one out.

    The module goes next to a ``<name>-<version>.dist-info`` folder whose
    ``entry_points.txt`` declares the plugins, so discovery goes through
    ``importlib.metadata`` exactly as for a ``pip install``-ed package.
    """
    (site / f"{module_name}.py").write_text(textwrap.dedent(module_source))
    dist_info = site / f"{dist_name.replace('-', '_')}-0.1.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 0.1\n")
    (dist_info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    (dist_info / "RECORD").write_text("")


@pytest.fixture
def plugin_site(tmp_path, monkeypatch, isolated_registry_index):
    """A site directory on sys.path, with a unique entry-point group for this test."""
    site = tmp_path / "site-packages"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    group = f"unetseg.test_{uuid.uuid4().hex[:8]}"
    created_modules = set(sys.modules)
    yield site, group
    for name in set(sys.modules) - created_modules:
        if name.startswith("unetseg_test_plugin"):
            del sys.modules[name]
    importlib.invalidate_caches()


def test_plugin_component_is_registered_under_entry_point_name(plugin_site):
    site, group = plugin_site
    install_distribution(
        site,
        "unetseg-test-plugin-a",
        "unetseg_test_plugin_a",
        """
        class BoundaryLoss:
            def __init__(self, weight=1.0):
                self.weight = weight
        """,
        f"[{group}]\nboundary = unetseg_test_plugin_a:BoundaryLoss\n",
    )
    losses = Registry("loss", entry_point_group=group)
    assert "unetseg_test_plugin_a" not in sys.modules  # nothing loaded before a lookup
    assert "boundary" in losses
    assert losses.create("boundary", weight=0.5).weight == 0.5
    assert sys.modules["unetseg_test_plugin_a"].BoundaryLoss is losses.get("boundary")
    assert all_registries()[group] is losses


def test_plugin_module_registers_with_decorator(plugin_site):
    site, group = plugin_site
    losses = Registry("loss", entry_point_group=group)
    install_distribution(
        site,
        "unetseg-test-plugin-b",
        "unetseg_test_plugin_b",
        f"""
        from unetseg.registry import all_registries

        LOSSES = all_registries()[{group!r}]

        @LOSSES.register("hausdorff_loss")
        class HausdorffLoss:
            pass

        @LOSSES.register("boundary_loss")
        class BoundaryLoss:
            pass
        """,
        f"[{group}]\nlosses = unetseg_test_plugin_b\n",
    )
    assert losses.names() == ["boundary_loss", "hausdorff_loss"]


def test_plugin_loaded_once_and_reload_finds_new_distributions(plugin_site):
    site, group = plugin_site
    losses = Registry("loss", entry_point_group=group)
    losses.register("dice", Square)
    assert losses.names() == ["dice"]
    install_distribution(
        site,
        "unetseg-test-plugin-c",
        "unetseg_test_plugin_c",
        "class Late:\n    pass\n",
        f"[{group}]\nlate = unetseg_test_plugin_c:Late\n",
    )
    importlib.invalidate_caches()
    assert losses.names() == ["dice"]  # discovery ran at the first lookup only
    losses.load_plugins(reload=True)
    assert losses.names() == ["dice", "late"]


def test_broken_plugin_warns_with_its_name_and_host_keeps_working(plugin_site):
    site, group = plugin_site
    install_distribution(
        site,
        "unetseg-test-plugin-broken",
        "unetseg_test_plugin_broken",
        "import a_dependency_that_is_not_installed\n",
        f"[{group}]\nbroken = unetseg_test_plugin_broken:Thing\n",
    )
    install_distribution(
        site,
        "unetseg-test-plugin-good",
        "unetseg_test_plugin_good",
        "class Good:\n    pass\n",
        f"[{group}]\ngood = unetseg_test_plugin_good:Good\n",
    )
    losses = Registry("loss", entry_point_group=group)
    losses.register("dice", Square)
    with pytest.warns(PluginWarning) as record:
        names = losses.names()
    assert names == ["dice", "good"]
    assert len(record) == 1
    message = str(record[0].message)
    assert "'broken = unetseg_test_plugin_broken:Thing'" in message
    assert "unetseg-test-plugin-broken 0.1" in message
    assert "ModuleNotFoundError" in message
    assert "a_dependency_that_is_not_installed" in message
    # Warned once, not at every lookup.
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert losses.get("dice") is Square


def test_plugin_that_takes_a_builtin_name_warns_and_builtin_wins(plugin_site):
    site, group = plugin_site
    install_distribution(
        site,
        "unetseg-test-plugin-clash",
        "unetseg_test_plugin_clash",
        "class FakeDice:\n    pass\n",
        f"[{group}]\ndice = unetseg_test_plugin_clash:FakeDice\n",
    )
    losses = Registry("loss", entry_point_group=group)
    losses.register("dice", Square)
    with pytest.warns(PluginWarning, match="already registered"):
        assert losses.get("dice") is Square


def test_plugin_failing_during_import_with_any_exception_is_contained(plugin_site):
    site, group = plugin_site
    install_distribution(
        site,
        "unetseg-test-plugin-raises",
        "unetseg_test_plugin_raises",
        "raise RuntimeError('plugin exploded at import')\n",
        f"[{group}]\nboom = unetseg_test_plugin_raises:X\n",
    )
    losses = Registry("loss", entry_point_group=group)
    with pytest.warns(PluginWarning, match="RuntimeError: plugin exploded at import"):
        assert "boom" not in losses


def test_one_registry_per_entry_point_group(isolated_registry_index):
    Registry("loss", entry_point_group="unetseg.test_unique_group")
    with pytest.raises(RegistrationError, match="already belongs to"):
        Registry("other loss", entry_point_group="unetseg.test_unique_group")


def test_registry_without_group_is_not_indexed(isolated_registry_index):
    before = dict(all_registries())
    Registry("private thing")
    assert all_registries() == before


@given(st.text(alphabet=st.characters(categories=["L", "N", "Pd", "Pc", "Zs"]), min_size=1))
def test_normalize_name_is_idempotent_and_case_blind(name):
    assume(name.strip())
    normalized = normalize_name(name)
    assert normalize_name(normalized) == normalized
    assert normalize_name(name.upper()) == normalize_name(name.lower()) or (
        # a few letters change length or identity when case-mapped (ß → SS)
        name.upper().lower() != name.lower()
    )


def test_builtins_are_imported_on_first_lookup_and_retried_after_a_failure(tmp_path, monkeypatch):
    import sys

    (tmp_path / "fragile_components.py").write_text(
        "import os\n"
        "from conftest_registry import COLOURS\n"
        "if os.environ.get('FRAGILE_FAIL'):\n"
        "    raise ImportError('broken on purpose')\n"
        "COLOURS.register('red', object())\n"
    )
    (tmp_path / "conftest_registry.py").write_text(
        "from unetseg.registry import Registry\n"
        "COLOURS = Registry('colour', builtins='fragile_components')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    from conftest_registry import COLOURS

    monkeypatch.setenv("FRAGILE_FAIL", "1")
    with pytest.raises(ImportError, match="broken on purpose"):
        COLOURS.names()
    sys.modules.pop("fragile_components", None)
    monkeypatch.delenv("FRAGILE_FAIL")
    assert COLOURS.names() == ["red"]  # not "none": the failed import is tried again
    sys.modules.pop("fragile_components", None)
    sys.modules.pop("conftest_registry", None)
