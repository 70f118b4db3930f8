"""Every benchmark script runs in its quick mode, so none of them rots.

Each runs with ``--compare monai``: where MONAI and PyTorch are installed (the
``bench`` extra) the comparison must run and agree; where they are not, the script
must say it skipped it and still measure unetseg.
"""

from __future__ import annotations

import importlib.util
import os

import pytest

HAVE_MONAI = all(importlib.util.find_spec(name) for name in ("monai", "torch"))


def _skipped(record: dict, table: str) -> bool:
    """Whether the run skipped the MONAI comparison, checking it said so when it should."""
    if HAVE_MONAI:
        return False
    assert "MONAI comparison skipped" in table
    return True


def test_metrics(run_quick):
    record, table = run_quick("metrics.py", "--repeats", "1", "--compare", "monai")
    assert {row["scenario"] for row in record["results"]} == {"compact", "scattered"}
    for row in record["results"]:
        assert row["hd95_wt_s"] > 0
        assert 0 < row["dice_wt"] < 1
        if not _skipped(record, table):
            assert row["values_agree"], row["monai"]
            assert row["hd95_speedup_vs_monai"] > 0
    assert record["packages"]["numpy"]
    assert table.startswith("# Metrics")


def test_pipeline(run_quick):
    record, table = run_quick("pipeline.py", "--repeats", "1", "--compare", "monai")
    assert record["seconds_per_case"] > 0
    assert record["peak_memory_mib"] > 0
    if not _skipped(record, table):
        assert record["monai"]["same_values"], record["monai"]
        assert record["monai"]["seconds_per_case"] > 0


def test_cache(run_quick):
    record, table = run_quick("cache.py", "--compare", "monai")
    assert record["seconds_per_case_into_cache"] > 0
    assert record["patches_per_second_2_workers"] > 0
    if not _skipped(record, table):
        assert record["monai"]["patches_per_second_2_workers"] > 0


def test_layer_times(run_quick):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    options = ["--networks", "quick", "--backends", backend, "--kinds", "conv,instance norm"]
    record, table = run_quick("layer_times.py", *options, "--repeats", "1")
    rows = record["results"]
    assert [(row["stage"], row["kind"]) for row in rows] == [
        (0, "conv"),
        (0, "instance norm"),
        (1, "conv"),
        (1, "instance norm"),
    ]
    assert rows[1]["input"] == [1, 16, 16, 16, 4]
    assert rows[2]["input"] == [1, 8, 8, 8, 8]  # stage 1: half the size, twice the features
    for row in rows:
        assert row["backend"] == backend
        assert row["forward_s"] > 0
        assert row["train_s"] > 0
        assert row["backward_s"] >= 0
    assert f"{backend} fwd / bwd (ms)" in table
    assert "TF_ENABLE_ONEDNN_OPTS" in record["settings"]  # set by import unetseg


def test_train_throughput_knows_the_recipes_networks(benchmarks_on_path):
    import train_throughput

    quick = train_throughput.model_config("quick", quick=False)
    assert quick.features == [8, 16, 32, 64]
    assert quick.input_size == [32, 32, 32]
    lowres = train_throughput.model_config("lowres", quick=False)
    assert lowres.input_size == [48, 48, 48]
    assert train_throughput.model_config("lowres", quick=True).input_size == [16, 16, 16]


@pytest.mark.backends
@pytest.mark.slow
def test_train_throughput(run_quick):
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    options = ["--backends", backend, "--precisions", "float32", "--compare", "monai"]
    record, table = run_quick("train_throughput.py", *options)
    rows = record["results"]
    ours = [row for row in rows if row["framework"] == backend]
    assert [row["model"] for row in ours] == ["3d", "2d"]
    # The stamp names the backends the child processes ran, not this process's.
    assert all(row["backend"] == backend for row in ours)
    assert record["backend"] == sorted({row["backend"] for row in rows})
    for row in ours:
        assert "error" not in row, row
        assert row["step_s"] > 0
        assert row["patches_per_s"] == pytest.approx(row["batch"] / row["step_s"])
        assert row["training_step_flop"] > 0
        assert row["peak_memory"]["mib"] > 0
        assert row["mfu"] is None  # no GPU, no peak to divide by
    if not _skipped(record, table):
        monai = [row for row in rows if row["framework"] == "monai"]
        assert len(monai) == 2
        assert all("vs_monai" in row for row in ours)
    assert table.startswith("# Training throughput")


@pytest.mark.backends
@pytest.mark.slow
def test_inference_latency(run_quick):
    record, table = run_quick("inference_latency.py", "--compare", "monai")
    plain, tta, device, device_tta = record["results"][:4]
    assert (plain["tta"], tta["tta"], device["tta"], device_tta["tta"]) == (False, True) * 2
    assert [r["blending"] for r in record["results"][:4]] == ["numpy"] * 2 + ["device"] * 2
    assert tta["model_calls"] == 8 * plain["model_calls"]
    assert plain["windows"] == tta["windows"] == device["windows"] == device_tta["windows"] > 1
    assert plain["output_shape"] == device_tta["output_shape"] == [40, 36, 30, 3]
    # the same probabilities from both paths (their mean, to float32 rounding)
    assert device["mean_difference_vs_numpy"] < 1e-5
    assert device_tta["mean_difference_vs_numpy"] < 1e-5
    if not _skipped(record, table):
        assert [r["framework"] for r in record["results"]] == ["unetseg"] * 4 + ["monai"] * 2
        assert plain["same_work"]
        assert tta["same_work"]
    assert table.startswith("# Inference latency")


@pytest.mark.slow
def test_case_latency(run_quick):
    # two folds averaged on the device (the Ensemble's device path), NIfTI to NIfTI
    record, table = run_quick(
        "case_latency.py", "--folds", "2", "--blending", "device", "--compare", "monai"
    )
    ours = record["results"][0]
    assert (ours["framework"], ours["blending"], ours["folds"], ours["tta"]) == (
        "unetseg",
        "device",
        2,
        False,
    )
    assert ours["labels_on_device"]  # cropped only: the labels are decoded on the device
    assert set(ours["stages_s"]) == {"preprocess", "inference", "postprocess", "write"}
    assert all(seconds > 0 for seconds in ours["stages_s"].values())
    assert ours["predict_s"] > 0
    assert len(ours["cropped_shape"]) == 4  # cropped to the brain, 4 modalities
    assert ours["cropped_shape"][:3] != [96, 96, 64]
    if not _skipped(record, table):
        (monai,) = record["results"][1:]
        assert (monai["framework"], monai["folds"], monai["tta"]) == ("monai", 2, False)
        assert monai["predict_s"] > 0
        assert ours["speedup_vs_monai"] > 0
    assert table.startswith("# Whole-case latency")


@pytest.mark.slow
def test_trainer_overhead(run_quick):
    record, table = run_quick("trainer_overhead.py")
    result = record["result"]
    assert result["bare_patches_per_s"] > 0
    assert result["trainer_patches_per_s"] > 0
    assert len(result["trainer_epochs_s"]) == 2
    assert table.startswith("# Trainer overhead")


def test_peak_flops_of_the_gpus_we_report_on(benchmarks_on_path):
    from _common import peak_tflops

    assert peak_tflops("NVIDIA H100 80GB HBM3", "float32") == 494.7
    assert peak_tflops("NVIDIA H100 80GB HBM3", "mixed_bfloat16") == 989.4
    assert peak_tflops("NVIDIA H100 PCIe", "mixed_float16") == 756.0
    assert peak_tflops("NVIDIA H200", "mixed_bfloat16") == 989.4
    assert peak_tflops("NVIDIA A100-SXM4-80GB", "float32") == 156.0
    assert peak_tflops("NVIDIA GeForce GTX 1080", "float32") is None
    assert peak_tflops(None, "float32") is None


@pytest.mark.slow
def test_step_breakdown(run_quick, monkeypatch):
    pytest.importorskip("jax")
    monkeypatch.setenv("KERAS_BACKEND", "jax")  # the script is for JAX
    record, table = run_quick("step_breakdown.py", "--parts", "transfer,model,ops")
    assert [row["what"] for row in record["transfer"]] == ["to device", "to host"]
    (model,) = record["model"]
    assert "error" not in model, model
    assert model["variant"] == "bf16 instance"
    assert model["step_device_ms"] > 0
    assert model["forward_ms"] > 0
    ops = {(row["op"], row["dtype"]): row for row in record["ops"]}
    for dtype in ("float32", "bfloat16"):
        for op in ("transposed conv 2³ (Keras)", "transposed conv 2³ (matrix product)"):
            assert "error" not in ops[op, dtype], ops[op, dtype]
            assert ops[op, dtype]["forward_backward_ms"] > 0
    assert table.startswith("# Training step breakdown")
