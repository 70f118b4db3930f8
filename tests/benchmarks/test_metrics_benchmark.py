"""The metrics benchmark runs in its quick mode, so the script never rots."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "metrics.py"


def test_quick_run_writes_json_and_markdown(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--repeats", "1", "--output", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    (json_file,) = tmp_path.glob("metrics-quick-*.json")
    data = json.loads(json_file.read_text())
    assert {row["scenario"] for row in data["results"]} == {"compact", "scattered"}
    for row in data["results"]:
        assert row["hd95_wt_s"] > 0
        assert 0 < row["dice_wt"] < 1
    assert data["packages"]["numpy"]
    assert (tmp_path / json_file.name.replace(".json", ".md")).read_text().startswith("# Metrics")
