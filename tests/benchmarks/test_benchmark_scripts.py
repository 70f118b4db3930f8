"""Every benchmark script runs in its quick mode, so none of them rots."""

from __future__ import annotations

import os

import pytest


def test_metrics(run_quick):
    record, table = run_quick("metrics.py", "--repeats", "1")
    assert {row["scenario"] for row in record["results"]} == {"compact", "scattered"}
    for row in record["results"]:
        assert row["hd95_wt_s"] > 0
        assert 0 < row["dice_wt"] < 1
    assert record["packages"]["numpy"]
    assert table.startswith("# Metrics")


def test_pipeline(run_quick):
    record, _ = run_quick("pipeline.py", "--repeats", "1")
    assert record["seconds_per_case"] > 0
    assert record["peak_memory_mib"] > 0


def test_cache(run_quick):
    record, _ = run_quick("cache.py")
    assert record["seconds_per_case_into_cache"] > 0
    assert record["patches_per_second_2_workers"] > 0


@pytest.mark.backends
@pytest.mark.slow
def test_train_step(run_quick):
    record, _ = run_quick("train_step.py")
    assert record["backend"] == os.environ.get("KERAS_BACKEND", "tensorflow")
    assert record["result"]["step_s"] > 0
    assert record["result"]["training_step_tflop"] > 0


@pytest.mark.backends
@pytest.mark.slow
def test_inference_latency(run_quick):
    record, table = run_quick("inference_latency.py")
    plain, tta = record["results"]
    assert (plain["tta"], tta["tta"]) == (False, True)
    assert tta["model_calls"] == 8 * plain["model_calls"]
    assert plain["windows"] == tta["windows"] > 1
    assert plain["output_shape"] == [40, 36, 30, 3]
    assert table.startswith("# Inference latency")


@pytest.mark.slow
def test_trainer_overhead(run_quick):
    record, table = run_quick("trainer_overhead.py")
    result = record["result"]
    assert result["bare_patches_per_s"] > 0
    assert result["trainer_patches_per_s"] > 0
    assert len(result["trainer_epochs_s"]) == 2
    assert table.startswith("# Trainer overhead")
