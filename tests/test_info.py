from __future__ import annotations

import json
import os

import pytest

from unetseg.info import environment_report, format_report
from unetseg.registry import Registry

pytestmark = pytest.mark.backends


def test_backend_is_the_one_asked_for():
    # Guards CI's second pass: under KERAS_BACKEND=jax the tests must really run on JAX.
    import keras

    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")


def test_report_describes_this_installation(isolated_registry_index):
    import keras

    registry = Registry("report thing", entry_point_group="unetseg.test_report_things")
    registry.register("alpha", object)
    report = environment_report()
    json.dumps(report)  # serialisable, for benchmark stamps and bug reports
    assert report["keras_backend"] == keras.backend.backend()
    assert report["packages"]["keras"] == keras.__version__
    assert report["devices"], "the backend should see at least one device (the CPU)"
    assert report["registries"]["unetseg.test_report_things"] == ["alpha"]
    # Every registry of unetseg is listed with its built-in names, imported or not.
    assert "dice_ce" in report["registries"]["unetseg.losses"]
    assert "brats_regions" in report["registries"]["unetseg.tasks"]
    assert "adamw" in report["registries"]["unetseg.optimizers"]


def test_report_without_devices_skips_them():
    assert "devices" not in environment_report(devices=False)


def test_format_report_has_one_fact_per_line():
    report = environment_report()
    text = format_report(report)
    assert text.splitlines()[0] == f"unetseg        {report['unetseg']}"
    assert f"keras backend  {report['keras_backend']}" in text
    assert "numpy" in text
