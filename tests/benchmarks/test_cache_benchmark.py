"""The cache benchmark runs in its quick mode, so the script never rots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "cache.py"


def test_quick_run_writes_results(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    (json_file,) = tmp_path.glob("cache-quick-*.json")
    record = json.loads(json_file.read_text())
    assert record["seconds_per_case_into_cache"] > 0
    assert record["patches_per_second_2_workers"] > 0
