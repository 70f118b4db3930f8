"""Two worker processes on this machine train one model (JAX, loopback addresses)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unetseg.training import read_history

SCRIPT = Path(__file__).with_name("run_training.py")
TIMEOUT = 300  # seconds for a whole two-worker run; a hung collective fails the test

pytestmark = pytest.mark.slow


def free_port():
    with socket.socket() as probe:
        probe.bind(("localhost", 0))
        return probe.getsockname()[1]


def launch(cache, work, *arguments, workers=2):
    """Run ``run_training.py`` in ``workers`` workers; see :func:`launch_command`."""
    command = [sys.executable, str(SCRIPT), str(cache), str(work), "--multi-worker"]
    return launch_command([*command, *arguments], workers=workers)


def launch_command(command, *, workers=2, cwd=None, extra=None):
    """Start ``command`` once per worker (with ``extra[index]`` appended, if given);
    return ``(code, stdout, stderr)`` of each once all have exited, or fail."""
    port = free_port()
    processes = []
    for index in range(workers):
        env = {
            **os.environ,
            "KERAS_BACKEND": "jax",
            "KERAS_DISTRIBUTION_JOB_ADDRESSES": f"localhost:{port}",
            "KERAS_DISTRIBUTION_NUM_PROCESSES": str(workers),
            "KERAS_DISTRIBUTION_PROCESS_ID": str(index),
        }
        processes.append(
            subprocess.Popen(
                [*command, *((extra or {}).get(index, []))],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=env,
                cwd=cwd,
            )
        )
    deadline = time.monotonic() + TIMEOUT
    while any(p.poll() is None for p in processes):
        if any(p.returncode == -signal.SIGKILL for p in processes):
            # One worker died (pre-emption): the scheduler takes the job's others down.
            for other in processes:
                if other.poll() is None:
                    other.kill()
        if time.monotonic() > deadline:
            for process in processes:
                process.kill()
            pytest.fail(f"the workers did not finish within {TIMEOUT} s")
        time.sleep(0.2)
    return [(p.returncode, *p.communicate()) for p in processes]


def histories(results):
    found = []
    for code, out, err in results:
        assert code == 0, err[-3000:]
        found.append(json.loads(out.strip().splitlines()[-1]))
    return found


@pytest.fixture(scope="module")
def cache(cached_cases):
    return cached_cases[0].folder


@pytest.fixture(scope="module")
def two_workers(cache, tmp_path_factory):
    work = tmp_path_factory.mktemp("two-workers") / "run"
    start = time.monotonic()
    results = launch(cache, work)
    return work, histories(results), time.monotonic() - start


def test_two_workers_train_one_model_and_only_the_chief_writes(two_workers):
    work, (chief, other), seconds = two_workers
    print(f"two workers, 3 epochs of 2 steps: {seconds:.0f} s")  # reported with -s
    assert len(chief) == len(other) == 3
    for a, b in zip(chief, other, strict=True):
        # One global batch per step: both workers see the same loss and validation.
        for key in ("loss", "val_dice_wt", "val_dice_tc", "val_dice_et"):
            assert b[key] == pytest.approx(a[key], rel=1e-5, abs=1e-6), (key, a, b)
        assert a["patches_per_s"] > 0
    assert sorted(p.name for p in work.iterdir()) == [
        "best.keras",
        "config.json",
        "history.csv",
        "last.keras",
    ]
    stored = json.loads((work / "config.json").read_text())
    assert stored["distribute"]["mode"] == "multi_worker"
    assert stored["distribute"]["workers"] == 2
    assert len(read_history(work / "history.csv")) == 3


def test_each_worker_draws_its_own_patches(cached_cases):
    from unetseg.data import PatchDataset

    first = PatchDataset(cached_cases, (16, 16, 16), batch_size=2, seed=1)
    second = PatchDataset(cached_cases, (16, 16, 16), batch_size=2, seed=1, worker=1)
    alone = PatchDataset(cached_cases, (16, 16, 16), batch_size=2, seed=1)
    assert (first.batch(0, 0)[0] == alone.batch(0, 0)[0]).all()  # worker 0 = one process
    assert not (first.batch(0, 0)[0] == second.batch(0, 0)[0]).all()
    assert (second.batch(3, 1)[0] == second.batch(3, 1)[0]).all()  # deterministic


def test_killed_workers_resume_to_the_uninterrupted_history(cache, two_workers, tmp_path):
    _, (uninterrupted, _), _ = two_workers
    work = tmp_path / "run"
    killed = launch(cache, work, "--kill-epoch", "1")
    assert any(code == -signal.SIGKILL for code, _, _ in killed)
    assert len(read_history(work / "history.csv")) == 1
    resumed, other = histories(launch(cache, work))
    assert len(resumed) == len(other) == 3
    for a, b in zip(uninterrupted, resumed, strict=True):
        for key in ("loss", "val_dice_wt", "val_dice_tc", "val_dice_et"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-6), (key, a, b)


def test_multi_worker_without_its_variables_is_a_clear_error(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KERAS_DISTRIBUTION_")}
    script = (
        "from unetseg.training import DistributionContext\nDistributionContext('multi_worker')\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=120,
        env={**env, "KERAS_BACKEND": "jax"},
    )
    assert result.returncode == 1
    assert "needs KERAS_DISTRIBUTION_JOB_ADDRESSES, KERAS_DISTRIBUTION_NUM_PROCESSES" in (
        result.stderr
    )


def test_the_quick_recipe_trains_on_two_workers_from_the_command_line(tmp_path):
    from ..test_cli import TINY, unetseg

    data = tmp_path / "data"
    assert unetseg("synth", data, "--cases", 4, "--shape", 32, 32, 24).returncode == 0
    work = tmp_path / "run"
    command = [sys.executable, "-m", "unetseg", "train", "quick", "--data", str(data)]
    command += ["--work-dir", str(work), *TINY, "--set", "train.distribute=multi_worker"]
    (chief, chief_out, chief_err), (other, other_out, other_err) = launch_command(command)
    assert chief == 0, chief_err[-3000:]
    assert other == 0, other_err[-3000:]
    assert "WT" in chief_out  # the chief predicts the held-out cases and reports
    assert "Worker 1 done" in other_out
    assert "WT" not in other_out
    for name in ("recipe.json", "config.json", "best.keras", "metrics.csv"):
        assert (work / name).is_file(), name
    assert len(list((work / "predictions").glob("*.nii.gz"))) == 2
    assert json.loads((work / "config.json").read_text())["distribute"]["workers"] == 2


def test_a_worker_that_cannot_read_the_data_stops_every_worker(tmp_path):
    from ..test_cli import TINY, unetseg

    data = tmp_path / "data"
    assert unetseg("synth", data, "--cases", 4, "--shape", 32, 32, 24).returncode == 0
    elsewhere = tmp_path / "no-cases-here"
    elsewhere.mkdir()
    command = [sys.executable, "-m", "unetseg", "train", "quick", "--work-dir", str(tmp_path)]
    command += [*TINY, "--set", "train.distribute=multi_worker"]
    # The chief reads the cases; worker 1 is given a folder without any.
    extra = {0: ["--data", str(data)], 1: ["--data", str(elsewhere)]}
    start = time.monotonic()
    (chief, _, chief_err), (other, _, other_err) = launch_command(command, extra=extra)
    assert other == 2
    assert "No BraTS case folders" in other_err
    assert chief == 2
    assert "Another worker could not read the prepared work directory" in chief_err
    assert time.monotonic() - start < 120  # stopped together, not by a timeout
