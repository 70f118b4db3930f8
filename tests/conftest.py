"""Shared test configuration: hypothesis profiles and registry isolation."""

from __future__ import annotations

import os

# Under JAX, every new weight shape compiles its random initializer; the default
# (partitionable) threefry takes about 0.8 s per compile on a 2-core CPU, the classic
# one about 0.15 s. This only changes which random numbers the tests draw.
os.environ.setdefault("JAX_THREEFRY_PARTITIONABLE", "0")

import pytest
from hypothesis import HealthCheck, settings

# "ci" is deterministic: the same examples on every run, no example database,
# no deadline (a 2-core CI machine is slow and noisy). "dev" explores randomly.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=50,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("dev", deadline=None, max_examples=100)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))


def pytest_collection_modifyitems(items):
    """Run the slow tests first: with several workers (``-n auto``) the long end-to-end
    runs then overlap with the many short tests instead of finishing alone."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture
def isolated_registry_index(monkeypatch):
    """Let a test create pluggable registries without leaking them into the global index."""
    from unetseg import registry

    monkeypatch.setattr(registry, "_ALL_REGISTRIES", dict(registry._ALL_REGISTRIES))
    return registry._ALL_REGISTRIES


@pytest.fixture
def tumour_labels():
    """A small BraTS-like label map: oedema (2) around a core (1) with an enhancing rim (4)."""
    import numpy as np

    shape = (32, 32, 24)
    grid = np.indices(shape, dtype=float)
    centre = np.array([16.0, 15.0, 12.0])
    radius = np.sqrt(((grid - centre[:, None, None, None]) ** 2).sum(axis=0))
    labels = np.zeros(shape, dtype=np.uint8)
    labels[radius < 9] = 2
    labels[radius < 6] = 4
    labels[radius < 4] = 1
    return labels
