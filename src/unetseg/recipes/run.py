""":func:`run`: a recipe from its configuration to an evaluated model, 2D or 3D alike.

A run leaves in its work directory::

    recipe.json        the recipe (the predict step reads it)
    config.json, history.csv, best.keras, last.keras      (the Trainer's)
    predictions/       label maps of the held-out cases, on their source grid
    metrics.csv        per case and region: Dice, HD95, sensitivity, specificity
    summary.csv        mean, std, median, quartiles per region and metric
    figures/           overlays of a few held-out cases and the training curves
    notebook_metric.json   2D recipes: the original notebook's number
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from unetseg.errors import ConfigError
from unetseg.fileio import write_json
from unetseg.recipes.config import RecipeConfig
from unetseg.recipes.pieces import (
    build_predictor,
    build_trainer,
    describe_dataset,
    find_or_generate,
    split_cases,
    training_data,
    window_size_warning,
)
from unetseg.recipes.postprocessing import choose_postprocessing, save_choice
from unetseg.recipes.report import RecipeResult, report
from unetseg.training import DistributionContext

__all__ = ["run"]


def _claim_work_dir(config: RecipeConfig, work_dir: Path, force: bool) -> None:
    """Write ``recipe.json``, refusing (before writing anything) a folder of another recipe."""
    path = work_dir / "recipe.json"
    wanted = config.to_dict()
    if path.is_file() and not force:
        # Read back through the configuration, so a setting added since (with its
        # default) is no difference.
        stored = RecipeConfig.from_dict(
            json.loads(path.read_text(encoding="utf-8")), where=str(path)
        ).to_dict()
        differing = [
            f"{section}.{key}: {stored.get(section, {}).get(key)!r} → {value!r}"
            for section, values in wanted.items()
            for key, value in values.items()
            if stored.get(section, {}).get(key) != value
        ]
        if differing:
            raise ConfigError(
                f"The work directory {work_dir} holds a run of another recipe "
                f"({'; '.join(differing)[:400]}). Use another --work-dir, or --force to "
                "continue that run with these settings."
            )
    work_dir.mkdir(parents=True, exist_ok=True)
    write_json(path, wanted)


def _workers(config: RecipeConfig) -> DistributionContext | None:
    """This process's place in a multi-worker run (joined before anything else runs)."""
    if config.train.distribute != "multi_worker":
        return None
    return DistributionContext("multi_worker")


@contextlib.contextmanager
def _chief_first(workers: DistributionContext | None, work_dir: Path) -> Iterator[None]:
    """In a multi-worker run, the chief prepares the work directory (the recipe, the
    generated cases, the cache) while the others wait; then they read what it wrote.
    Afterwards all say whether they succeeded, so that any failure stops every worker
    (none is left waiting for a step the others will never take)."""
    if workers is None:
        yield
        return
    if workers.is_chief:
        try:
            yield
        except BaseException:
            workers.from_chief(-1)
            raise
        workers.from_chief(1)
        if not workers.all_succeeded(True):
            raise ConfigError(
                "Another worker could not read the prepared work directory "
                f"{work_dir} (its error says why)."
            )
        return
    if workers.from_chief(0) < 0:
        raise ConfigError(
            f"Worker {workers.worker_index}: the chief could not prepare {work_dir} (its "
            "error says why)."
        )
    try:
        yield  # finds what the chief wrote, and writes nothing
    except BaseException:
        workers.all_succeeded(False)
        raise
    if not workers.all_succeeded(True):
        raise ConfigError(
            f"Worker {workers.worker_index}: another worker could not read the prepared work "
            f"directory {work_dir} (its error says why)."
        )


def run(
    config: RecipeConfig,
    work_dir: str | os.PathLike[str],
    *,
    data: str | os.PathLike[str] | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> RecipeResult | None:
    """Train, predict the held-out cases, evaluate and draw; return the summary.

    With ``train.distribute = "multi_worker"`` every worker runs this: the chief (worker
    0) prepares the work directory while the others wait, all train, and the chief alone
    predicts, evaluates and returns the summary; the others return ``None``.

    Args:
        config: The recipe (:func:`~unetseg.recipes.load_config`).
        work_dir: The run's folder; an interrupted run continues in it.
        data: A BraTS training folder, or an nnU-Net raw or Decathlon dataset whose
            ``dataset.json`` then gives the task and the channels (overrides
            ``data.path``); without one, generated cases.
        force: Continue a run in ``work_dir`` whose settings differ.
        log: Where progress lines go.

    Raises:
        ConfigError: For a work directory of another recipe (unless ``force``), or a
            recipe that needs data it was not given.
        DataError: For data that cannot be read or scored.
    """
    start = time.perf_counter()
    work_dir = Path(work_dir)
    dataset = describe_dataset(data or config.data.path)
    if dataset is not None:  # nnU-Net raw or Decathlon: the task of its dataset.json
        config = config.for_dataset(dataset.task, len(dataset.channel_names))
        log(
            f"{dataset.format} dataset {dataset.name!r}: {len(dataset.channel_names)} channels "
            f"({', '.join(dataset.channel_names)}), task {dataset.task.kind} "
            f"{', '.join(dataset.task.scored_names)}"
        )
    workers = _workers(config)
    with _chief_first(workers, work_dir):
        if workers is None or workers.is_chief:  # the others only read the work directory
            _claim_work_dir(config, work_dir, force)
        seed = config.recipe.seed
        records = find_or_generate(
            config.data, seed=seed, recipe_name=config.recipe.name, work_dir=work_dir, path=data
        )
        train, val, test = split_cases(records, config.data, seed)
        log(f"{len(train)} training, {len(val)} validation and {len(test)} test cases")
        if warning := window_size_warning(config):
            log(f"Warning: {warning}")
        train_data, val_data = training_data(config, train, val, work_dir)
    trainer = build_trainer(config, work_dir)
    history = trainer.fit(train_data, val_data, epochs=config.train.epochs, force=force)
    if workers is not None and not workers.is_chief:
        log(f"Worker {workers.worker_index} done; the chief predicts and reports in {work_dir}")
        return None
    log(f"Training done after {time.perf_counter() - start:.0f} s; predicting {len(test)} cases")
    predictor = build_predictor(config, work_dir / "best.keras")
    if config.inference.choose_postprocessing and val:
        choice = choose_postprocessing(
            predictor,
            val,
            config.task,
            min_enhancing_voxels=config.inference.min_enhancing_voxels,
        )
        save_choice(choice, work_dir)
        log(
            f"Post-processing chosen on {len(val)} validation case(s): largest component of "
            f"{list(choice.largest_component) or 'no region'}, enhancing tumour below "
            f"{choice.min_enhancing_voxels} voxels relabelled (Dice {choice.dice_before} → "
            f"{choice.dice_after})"
        )
        predictor = build_predictor(config, predictor.model, choice)
    # Overwrite: predictions left by an earlier model in this folder must not be scored.
    predictor.predict(test, work_dir / "predictions", overwrite=True, progress=False)
    return report(config, work_dir, test, predictor, history, start=start, log=log)
