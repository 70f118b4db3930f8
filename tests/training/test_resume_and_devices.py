"""Runs in processes of their own: a killed run resumed, and two devices against one."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from unetseg.training import read_history

SCRIPT = Path(__file__).with_name("run_training.py")

pytestmark = pytest.mark.slow


def run(cache, work, *arguments, env=None):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(cache), str(work), *arguments],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **(env or {})},
    )
    return result


def history(result):
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_same_history(first, second, rtol):
    assert len(first) == len(second)
    for a, b in zip(first, second, strict=True):
        for key in ("loss", "val_dice_wt", "val_dice_tc", "val_dice_et", "learning_rate"):
            assert b[key] == pytest.approx(a[key], rel=rtol, abs=1e-6), (key, a, b)


@pytest.fixture(scope="module")
def cache(cached_cases):
    return cached_cases[0].folder


@pytest.fixture(scope="module")
def uninterrupted(cache, tmp_path_factory):
    return history(run(cache, tmp_path_factory.mktemp("whole") / "run"))


@pytest.mark.backends
def test_a_killed_run_resumes_to_the_uninterrupted_history(cache, uninterrupted, tmp_path):
    work = tmp_path / "run"
    killed = run(cache, work, "--kill-epoch", "1")
    assert killed.returncode == -signal.SIGKILL
    assert len(read_history(work / "history.csv")) == 1  # epoch 1 done, epoch 2 cut short
    assert not list(work.glob(".*partial*"))
    resumed = history(run(cache, work))
    assert_same_history(uninterrupted, resumed, rtol=1e-4)


@pytest.mark.backends
@pytest.mark.parametrize("blending", ["numpy", "device"])
def test_two_devices_match_one(cache, uninterrupted, tmp_path, blending):
    # TensorFlow splits the CPU into two logical devices (in run_training.py); JAX is
    # told to expose two host devices before it starts. Validation blends its windows on
    # the host or on the device (TensorFlow's replicated model is called directly).
    env = {"XLA_FLAGS": "--xla_force_host_platform_device_count=2"}
    result = run(cache, tmp_path / "run", "--distribute", "--val-blending", blending, env=env)
    parallel = history(result)
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["distribute"] == {"mode": "data_parallel", "devices": 2}
    assert_same_history(uninterrupted, parallel, rtol=2e-3)
