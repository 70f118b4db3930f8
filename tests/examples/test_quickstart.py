"""The quickstart example runs as a user runs it, in a fresh interpreter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "examples" / "quickstart.py"

pytestmark = pytest.mark.backends


def test_quickstart_runs_and_round_trips_a_model(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--seed", "3"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ},
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    backend = os.environ.get("KERAS_BACKEND", "tensorflow")
    assert f"keras backend  {backend}" in result.stdout
    assert (
        "OK: a model with a registered custom layer saved as .keras and loaded back"
        in result.stdout
    )
    assert list(tmp_path.iterdir()) == []  # it cleaned up after itself
