"""The training-step benchmark runs in its quick mode on the test's backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "train_step.py"

pytestmark = [pytest.mark.backends, pytest.mark.slow]


def test_quick_run_writes_results(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (json_file,) = tmp_path.glob("train_step-quick-*.json")
    record = json.loads(json_file.read_text())
    assert record["backend"] == os.environ.get("KERAS_BACKEND", "tensorflow")
    assert record["result"]["step_s"] > 0
    assert record["result"]["training_step_tflop"] > 0
