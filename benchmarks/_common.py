"""What every benchmark shares: the stamp of where it ran, and writing its results.

Each benchmark writes ``benchmarks/results/<name>.json`` (everything measured, with
the stamp) and ``<name>.md`` (a table for people), atomically, and prints the table.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from unetseg.fileio import atomic_write
from unetseg.info import environment_report

RESULTS = Path(__file__).resolve().parent / "results"


def stamp(benchmark: str, *, devices: bool = False, **extra: Any) -> dict[str, Any]:
    """Date, machine, Keras backend (and devices), library versions, plus ``extra``."""
    report = environment_report(devices=devices)
    values = {
        "benchmark": benchmark,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "machine": report["cpu"],
        "python": report["python"],
        "backend": report["keras_backend"],
        "packages": report["packages"],
        "unetseg": report["unetseg"],
    }
    if devices:
        values["devices"] = report["devices"]
    return {**values, **extra}


def markdown_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A Markdown table of ``rows`` under ``headers``."""
    lines = ["| " + " | ".join(headers) + " |", "|" + " --- |" * len(headers)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def save(output: Path, name: str, record: dict[str, Any], table: str) -> None:
    """Write ``name.json`` and ``name.md`` into ``output`` and print the table."""
    output.mkdir(parents=True, exist_ok=True)
    with atomic_write(output / f"{name}.json") as handle:
        json.dump(record, handle, indent=2)
    with atomic_write(output / f"{name}.md") as handle:
        handle.write(table)
    print(table)
