"""Shared test configuration: hypothesis profiles and registry isolation."""

from __future__ import annotations

import os

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


@pytest.fixture
def isolated_registry_index(monkeypatch):
    """Let a test create pluggable registries without leaking them into the global index."""
    from unetseg import registry

    monkeypatch.setattr(registry, "_ALL_REGISTRIES", dict(registry._ALL_REGISTRIES))
    return registry._ALL_REGISTRIES
