"""Running a benchmark script in its quick mode, as the tests of the scripts do."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def run_quick(tmp_path):
    """Run ``benchmarks/<script>`` with ``--quick``; return its JSON results and Markdown."""

    def run(script: str, *arguments: str) -> tuple[dict, str]:
        result = subprocess.run(
            [
                sys.executable,
                str(BENCHMARKS / script),
                "--quick",
                "--output",
                str(tmp_path),
                *arguments,
            ],
            capture_output=True,
            text=True,
            timeout=600,
            env={**os.environ},
        )
        assert result.returncode == 0, result.stderr[-3000:]
        (json_file,) = tmp_path.glob("*.json")
        return json.loads(json_file.read_text()), json_file.with_suffix(".md").read_text()

    return run


@pytest.fixture
def benchmarks_on_path(monkeypatch):
    """Make the benchmarks' helper modules (``_common``, ``_monai``) importable."""
    monkeypatch.syspath_prepend(str(BENCHMARKS))
