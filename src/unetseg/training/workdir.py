"""A training run's work directory: claiming it for a configuration, and resuming.

:func:`claim_work_dir` writes ``config.json`` or, when the folder holds a run already,
compares the two configurations and refuses another run's folder (naming every
setting that differs) unless forced; a forced run may change how it trains, never the
network or precision of the weights it continues. :func:`copy_optimizer_state`
carries a restored optimiser's state into the optimiser of the current configuration.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras

from unetseg.errors import ConfigError
from unetseg.fileio import write_json

__all__ = ["claim_work_dir", "copy_optimizer_state", "differing_settings"]


def _without_names(value: Any) -> Any:
    """A serialised Keras object without its ``name`` (Keras numbers repeated names)."""
    if isinstance(value, dict):
        return {k: _without_names(v) for k, v in value.items() if k != "name"}
    if isinstance(value, list):
        return [_without_names(v) for v in value]
    return value


def _flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"trainer": {"seed": 0}}`` → ``{"trainer.seed": 0}``, for naming what differs."""
    if not isinstance(value, Mapping) or not value:
        return {prefix: value}
    flat: dict[str, Any] = {}
    for key, item in value.items():
        flat.update(_flatten(item, f"{prefix}.{key}" if prefix else str(key)))
    return flat


def differing_settings(stored: Mapping[str, Any], wanted: Mapping[str, Any]) -> dict[str, tuple]:
    """The settings two run configurations disagree on: ``{"trainer.seed": (0, 1)}``.

    Layer names Keras numbered and the unetseg version do not count.

    Args:
        stored: The configuration of the run already in the folder.
        wanted: The configuration of the new run.

    Example:
        >>> differing_settings({"trainer": {"seed": 0}}, {"trainer": {"seed": 1}})
        {'trainer.seed': (0, 1)}
    """
    before, after = _flatten(_without_names(stored)), _flatten(_without_names(wanted))
    return {
        key: (before.get(key), after.get(key))
        for key in sorted(set(before) | set(after))
        if key != "unetseg" and before.get(key) != after.get(key)
    }


def claim_work_dir(
    work_dir: str | os.PathLike[str], config: Mapping[str, Any], *, force: bool = False
) -> bool:
    """Write ``config.json`` into ``work_dir``; return whether a run there can be resumed.

    Args:
        work_dir: The run's folder, created if missing.
        config: The run's configuration, as JSON data.
        force: Claim a folder holding a run of another configuration (still refused when
            its ``last.keras`` weights are of another network or precision).

    Raises:
        ConfigError: If the folder holds a run of another configuration and ``force`` is
            false (the message lists what differs), or, even when forced, one whose
            network or precision differs from the weights in ``last.keras``.
    """
    work_dir = Path(work_dir)
    path = work_dir / "config.json"
    resumable = (work_dir / "last.keras").is_file()
    work_dir.mkdir(parents=True, exist_ok=True)
    if path.is_file():
        differing = differing_settings(json.loads(path.read_text(encoding="utf-8")), config)
        fixed = [k for k in differing if k.startswith("model") or k == "trainer.precision"]
        if differing and force and fixed and resumable:
            raise ConfigError(
                f"The work directory {work_dir} holds a run of another network or precision "
                f"({', '.join(fixed)[:300]}); its weights cannot continue with it, even when "
                "forced. Use another work directory."
            )
        if differing and not force:
            changes = "; ".join(
                f"{key}: {old!r} → {new!r}"[:200] for key, (old, new) in differing.items()
            )
            raise ConfigError(
                f"The work directory {work_dir} holds a run with a different configuration "
                f"({changes}). Use another work directory, or continue it with the new "
                "configuration (fit(force=True); the command line's --force)."
            )
    write_json(path, config)
    return resumable


def copy_optimizer_state(
    source: keras.optimizers.Optimizer, target: keras.optimizers.Optimizer
) -> None:
    """Carry a restored optimiser's state (step count, momenta, loss scale) over to a
    fresh one; only the step count when the two are of different kinds. The learning
    rate is the configuration's, never the file's.

    Args:
        source: The restored optimiser, such as that of a model loaded from ``last.keras``.
        target: The fresh, already built optimiser of the current configuration.
    """
    pairs = list(zip(target.variables, source.variables, strict=False))
    same = type(source) is type(target) and len(target.variables) == len(source.variables)
    if same and all(tuple(t.shape) == tuple(s.shape) for t, s in pairs):
        for target_variable, source_variable in pairs:
            if not target_variable.path.endswith("learning_rate"):
                target_variable.assign(source_variable)
    else:
        target.iterations.assign(source.iterations)
