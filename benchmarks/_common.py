"""What every benchmark shares: the stamp of where it ran, and writing its results.

Each benchmark writes ``benchmarks/results/<name>.json`` (everything measured, with
the stamp) and ``<name>.md`` (a table for people), atomically, and prints the table.
It also knows the accelerator a run used, that device's peak FLOP rate (for model
FLOPs utilisation) and how to read peak device memory on each Keras backend.
"""

from __future__ import annotations

import datetime as dt
import importlib.util
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from unetseg.fileio import atomic_write
from unetseg.info import environment_report

RESULTS = Path(__file__).resolve().parent / "results"

#: Environment variables that change how the backends run; every stamp records those set.
#: ``import unetseg`` sets ``TF_ENABLE_ONEDNN_OPTS=1`` unless it is set already.
SETTINGS = (
    "TF_ENABLE_ONEDNN_OPTS",
    "TF_NUM_INTEROP_THREADS",
    "TF_NUM_INTRAOP_THREADS",
    "XLA_FLAGS",
    "OMP_NUM_THREADS",
)


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
        "settings": {name: os.environ[name] for name in SETTINGS if name in os.environ},
    }
    if devices:
        values["devices"] = report["devices"]
    return {**values, **extra}


def median_seconds(function: Callable[[], object], repeats: int, warmup: int = 0) -> float:
    """The median wall time of ``repeats`` calls of ``function``, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        function()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


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


#: Dense peak tensor-core TFLOP/s of the GPUs we report on, as (float32 through
#: TF32, 16-bit float), from NVIDIA's data sheets (sparsity not counted). The
#: frameworks run float32 convolutions as TF32 on these chips by default (XLA's
#: default precision, PyTorch's ``cudnn.allow_tf32``), so TF32 is float32's peak.
#: Longer names first: the first one found in the device name wins.
PEAK_TFLOPS: dict[str, tuple[float, float]] = {
    "H100 PCIe": (378.0, 756.0),
    "H100": (494.7, 989.4),  # SXM5 (the "H100 80GB HBM3")
    "H200": (494.7, 989.4),
    "A100": (156.0, 312.0),
}


def accelerator_name() -> str | None:
    """The name of the first NVIDIA GPU (from ``nvidia-smi``), or ``None`` without one."""
    if shutil.which("nvidia-smi") is None:
        return None
    try:
        result = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    names = result.stdout.strip().splitlines()
    return names[0].strip() if names else None


def peak_tflops(device: str | None, precision: str) -> float | None:
    """The device's dense peak TFLOP/s for ``precision``, or ``None`` if unknown (CPUs)."""
    if device is None:
        return None
    for name, (tf32, half) in PEAK_TFLOPS.items():
        if name in device:
            return tf32 if precision == "float32" else half
    return None


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    return importlib.util.find_spec(module) is not None


def keras_backends() -> list[str]:
    """The Keras backends whose framework is installed here, TensorFlow first."""
    return [name for name in ("tensorflow", "jax", "torch") if installed(name)]


def reset_peak_memory(backend: str) -> None:
    """Start a new peak-memory count where the backend allows it (PyTorch, TensorFlow)."""
    if backend == "torch" and "torch" in sys.modules:
        import torch

        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            tf.config.experimental.reset_memory_stats("GPU:0")


def peak_memory(backend: str) -> dict[str, Any]:
    """Peak memory of this process on its device: ``{"where": ..., "mib": ...}``.

    GPU memory where the backend runs on a GPU (JAX's allocator statistics for the
    whole process — run one configuration per process; PyTorch's and TensorFlow's
    since the last :func:`reset_peak_memory`), else the process's peak resident set.
    """
    if backend == "jax":
        import jax

        stats = jax.local_devices()[0].memory_stats() or {}
        if "peak_bytes_in_use" in stats and jax.default_backend() == "gpu":
            return {"where": "gpu", "mib": stats["peak_bytes_in_use"] / 2**20}
    elif backend == "torch":
        import torch

        if torch.cuda.is_available():
            return {"where": "gpu", "mib": torch.cuda.max_memory_allocated() / 2**20}
    elif backend == "tensorflow":
        import tensorflow as tf

        if tf.config.list_physical_devices("GPU"):
            peak = tf.config.experimental.get_memory_info("GPU:0")["peak"]
            return {"where": "gpu", "mib": peak / 2**20}
    return {"where": "host RSS", "mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
