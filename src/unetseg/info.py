"""What this installation is: versions, the Keras backend, its devices and the registries.

Bug reports, benchmark results and the command line's ``info`` all stamp their
output with :func:`environment_report`, so a number can always be traced to the
machine and library versions that produced it.
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
import sys
from typing import Any

import unetseg.registries  # noqa: F401 - declares every registry, so the report lists them all
from unetseg.registry import all_registries

__all__ = ["cpu_description", "environment_report", "format_report"]

_PACKAGES = (
    "keras",
    "tensorflow",
    "jax",
    "jaxlib",
    "torch",
    "numpy",
    "scipy",
    "nibabel",
    "albumentations",
    "matplotlib",
    "monai",
)


def _installed_version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def cpu_description() -> str:
    """The processor's model name and the number of cores this process may use."""
    name = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return f"{name}, {cores} cores"


def _backend_devices(backend: str) -> list[str]:
    """List the devices the active Keras backend can use (imports the backend)."""
    if backend == "tensorflow":
        import tensorflow as tf

        return [device.name for device in tf.config.list_logical_devices()]
    if backend == "jax":
        import jax

        return [str(device) for device in jax.devices()]
    if backend == "torch":
        import torch

        devices = ["cpu"]
        devices += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
        return devices
    return []


def environment_report(*, devices: bool = True) -> dict[str, Any]:
    """Describe this installation as a JSON-serialisable dictionary.

    Args:
        devices: Also list the devices the backend sees (this initialises the
            backend's runtime, which takes a moment the first time).

    Returns:
        A dictionary with keys ``unetseg``, ``python``, ``platform``, ``packages``
        (installed version or ``None`` for each relevant distribution),
        ``keras_backend``, ``devices`` (when asked) and ``registries``
        (entry-point group → registered names, plugins included).

    Example:
        >>> report = environment_report(devices=False)
        >>> sorted(report)[:3]
        ['cpu', 'keras_backend', 'packages']
    """
    import unetseg

    report: dict[str, Any] = {
        "unetseg": unetseg.__version__,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpu": cpu_description(),
        "packages": {name: _installed_version(name) for name in _PACKAGES},
    }
    try:
        import keras

        backend = keras.backend.backend()
    except Exception as error:  # noqa: BLE001 - the bug report must work without a backend
        report["keras_backend"] = f"unavailable: {type(error).__name__}: {error}"
        if devices:
            report["devices"] = []
        report["registries"] = {}
        return report
    report["keras_backend"] = backend
    if devices:
        try:
            report["devices"] = _backend_devices(backend)
        except Exception as error:  # noqa: BLE001
            report["devices"] = [f"unavailable: {type(error).__name__}: {error}"]
    report["registries"] = {group: _names(registry) for group, registry in all_registries().items()}
    return report


def _names(registry: Any) -> list[str]:
    """A registry's names, or the error that loading its built-ins raised."""
    try:
        return registry.names()
    except Exception as error:  # noqa: BLE001
        return [f"unavailable: {type(error).__name__}: {error}"]


def format_report(report: dict[str, Any]) -> str:
    """Render :func:`environment_report` as aligned plain text, one fact per line.

    Args:
        report: A dictionary as :func:`environment_report` returns it.
    """
    lines = [
        f"unetseg        {report['unetseg']}",
        f"python         {report['python']} ({report['platform']})",
        f"cpu            {report['cpu']}",
        f"keras backend  {report['keras_backend']}",
    ]
    if "devices" in report:
        lines.append(f"devices        {', '.join(report['devices']) or 'none found'}")
    for name, version in report["packages"].items():
        lines.append(f"{name:<14} {version or 'not installed'}")
    registries = report["registries"]
    if registries:
        for group, names in registries.items():
            lines.append(f"{group:<14} {', '.join(names) or '(empty)'}")
    elif str(report["keras_backend"]).startswith("unavailable"):
        lines.append("registries     unavailable without Keras")
    else:
        lines.append("registries     none loaded yet")
    return "\n".join(lines)
