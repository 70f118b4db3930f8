"""The 2D branch of the recipe: the original notebook's slice-wise U-Net, measured honestly.

The notebook trained a 2D U-Net on axial slices (FLAIR and T1ce, slices 60–134,
resized to 128×128, scaled by their maximum) with a softmax over background,
necrotic core, oedema and enhancing tumour, and reported its soft Dice pooled over
every class *including background*. :func:`run_2d` trains the same way, then reports
that number (:func:`~unetseg.metrics.pooled_soft_dice` on the held-out slices, as the
notebook computed it) beside the per-region BraTS metrics of the same predictions
put back on the full volumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unetseg.errors import ConfigError
from unetseg.fileio import atomic_write

__all__ = ["run_2d"]


def _slices(config: dict[str, Any], record: dict[str, Any], with_label: bool = True) -> tuple:
    import nibabel as nib

    from unetseg.data.slices import volume_slices
    from unetseg.transforms import LoadImage

    data, size = config["data"], config["train"]["patch_size"]
    image, meta = LoadImage()(record["image"])
    label = np.asarray(nib.load(str(record["label"])).dataobj) if with_label else None
    channels = data["modalities"] or list(range(image.shape[-1]))
    images, targets = volume_slices(
        image, label, slice_range=data["slice_range"], size=size, channels=channels
    )
    return images, targets, meta


def run_2d(
    config: dict[str, Any],
    model_config: Any,
    work_dir: Path,
    splits: tuple[Sequence[dict], Sequence[dict], Sequence[dict]],
    log: Callable[[str], None],
    start: float,
) -> dict[str, Any]:
    """Train the 2D network on slices, predict and evaluate the test cases."""
    from unetseg.data.slices import SliceDataset, slices_to_volume
    from unetseg.inference import brats_submission_name, write_label_map
    from unetseg.metrics import pooled_soft_dice
    from unetseg.recipe import build_trainer, finish

    if len(config["data"]["slice_range"]) != 2 or len(config["train"]["patch_size"]) != 2:
        raise ConfigError(
            "A 2D recipe needs data.slice_range = [start, stop] and train.patch_size = [h, w]."
        )
    train, val, test = splits
    prepared = [_slices(config, r) for r in train]
    images = np.concatenate([p[0] for p in prepared])
    targets = np.concatenate([p[1] for p in prepared])
    log(f"{len(images)} training slices of {images.shape[1:]}")
    settings = config["train"]
    slices = SliceDataset(
        images, targets, batch_size=settings["batch_size"], seed=config["recipe"]["seed"]
    )
    val_cases = [_slices(config, r)[:2] for r in val]
    trainer = build_trainer(
        config, model_config, work_dir, val_mode="argmax", channel_names=("ncr", "ed", "et")
    )
    history = trainer.fit(slices, val_cases, epochs=settings["epochs"])
    log(f"Training done; predicting {len(test)} cases slice by slice")
    model = trainer.model
    prediction_dir = work_dir / "predictions"
    pooled = []
    for record in test:
        case_images, case_targets, meta = _slices(config, record)
        probabilities = np.asarray(model.predict(case_images, batch_size=32, verbose=0))
        pooled.append(pooled_soft_dice(case_targets, probabilities))
        volume = slices_to_volume(
            probabilities.argmax(axis=-1), meta["spatial_shape"], config["data"]["slice_range"]
        )
        write_label_map(volume, prediction_dir / brats_submission_name(record["id"]), meta)
    legacy = {
        "pooled_soft_dice_with_background": float(np.mean(pooled)),
        "per_case": dict(zip([r["id"] for r in test], map(float, pooled), strict=True)),
    }
    with atomic_write(work_dir / "notebook_metric.json") as handle:
        json.dump(legacy, handle, indent=2)
    log(
        "The notebook's number — soft Dice pooled over all classes, background included — "
        f"on the held-out slices: {legacy['pooled_soft_dice_with_background']:.4f}. "
        "The BraTS metrics of the same predictions:"
    )
    return finish(
        config, work_dir, test, prediction_dir, history, log, start, {"notebook_metric": legacy}
    )
