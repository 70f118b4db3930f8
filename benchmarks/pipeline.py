"""Benchmark: CPU time and peak memory per case of a BraTS training pipeline.

The pipeline: load four modalities of 240 × 240 × 155 from ``.nii.gz`` → z-score
normalise inside the brain → crop to the brain → four random 128³ patches (half
centred on tumour) → flips on every axis and intensity augmentation. The case is
generated once (an ellipsoid "brain" with a tumour, noise and a smooth bias) and
written as NIfTI, so the loading cost is real.

Peak memory is the largest amount of memory the pipeline allocated at once while
processing a case (``tracemalloc``, which NumPy reports its arrays to), from one
more case run apart from the timed ones.

``--compare monai`` runs MONAI's equivalent dictionary transforms on the same files
in the same run (``LoadImaged`` + ``EnsureChannelFirstd``,
``ConvertToMultiChannelBasedOnBratsClassesd``, ``NormalizeIntensityd``,
``CropForegroundd``, ``RandCropByPosNegLabeld``, ``RandFlipd`` × 3,
``RandScaleIntensityd``, ``RandShiftIntensityd``, ``RandGaussianNoised``,
``RandAdjustContrastd``), prints the ratio of the times and checks that the
deterministic part (loading, normalising, cropping) gives the same image. MONAI's
peak memory is not reported: its tensors are PyTorch's, which ``tracemalloc``
does not see.

    python benchmarks/pipeline.py            # 240 × 240 × 155, 128³ patches
    python benchmarks/pipeline.py --quick    # small, for CI
    python benchmarks/pipeline.py --compare monai
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import nibabel as nib
import numpy as np
from _common import RESULTS, markdown_table, save, stamp
from _monai import brats_transforms, skip_reason

from unetseg.transforms import (
    Compose,
    ConvertBratsLabelsd,
    CropForegroundd,
    LoadImaged,
    NormalizeIntensityd,
    RandAdjustContrastd,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandGaussianNoised,
    RandScaleIntensityd,
    RandShiftIntensityd,
)

MODALITIES = ("flair", "t1", "t1ce", "t2")


def write_case(folder: Path, shape: tuple[int, int, int], seed: int = 0) -> dict:
    """Write one BraTS-like case (four modalities and a segmentation) as .nii.gz."""
    rng = np.random.default_rng(seed)
    grid = np.indices(shape, dtype=np.float32)
    centre = (np.array(shape, dtype=np.float32) - 1) / 2
    radii = np.array(shape, dtype=np.float32) * np.array([0.38, 0.45, 0.42])
    brain = (((grid - centre[:, None, None, None]) / radii[:, None, None, None]) ** 2).sum(0) < 1
    tumour_centre = centre + radii * np.array([0.3, -0.2, 0.1])
    distance = np.sqrt(((grid - tumour_centre[:, None, None, None]) ** 2).sum(0))
    scale = min(shape) / 155
    label = np.zeros(shape, np.uint8)
    label[(distance < 25 * scale) & brain] = 2
    label[(distance < 14 * scale) & brain] = 4
    label[(distance < 9 * scale) & brain] = 1
    affine = np.eye(4)
    case = {"id": "bench_case", "image": [], "label": str(folder / "seg.nii.gz")}
    for index, name in enumerate(MODALITIES):
        base = 400 + 100 * index + 300 * (label > 0) + rng.normal(0, 30, shape)
        volume = np.where(brain, base, 0).astype(np.float32)
        path = folder / f"{name}.nii.gz"
        nib.save(nib.Nifti1Image(volume, affine), str(path))
        case["image"].append(str(path))
    nib.save(nib.Nifti1Image(label, affine), case["label"])
    return case


def pipeline(patch: int, seed: int) -> Compose:
    keys = ["image", "label"]
    return Compose(
        [
            LoadImaged(keys),
            ConvertBratsLabelsd("label"),
            NormalizeIntensityd("image", nonzero=True, channel_wise=True),
            CropForegroundd(keys, source_key="image"),
            RandCropByPosNegLabeld(
                keys, label_key="label", spatial_size=patch, pos=1, neg=1, num_samples=4
            ),
            RandFlipd(keys, prob=0.5, spatial_axis=0),
            RandFlipd(keys, prob=0.5, spatial_axis=1),
            RandFlipd(keys, prob=0.5, spatial_axis=2),
            RandScaleIntensityd("image", factors=0.1, prob=1.0),
            RandShiftIntensityd("image", offsets=0.1, prob=1.0),
            RandGaussianNoised("image", prob=0.15, std=0.1),
            RandAdjustContrastd("image", prob=0.15),
        ],
        seed=seed,
    )


def monai_pipeline(patch: int, seed: int, deterministic_only: bool = False):
    """MONAI's dictionary transforms doing the same work as :func:`pipeline`."""
    transform = brats_transforms(patch, num_samples=4, augment=not deterministic_only)
    return transform.set_random_state(seed=seed)


def same_deterministic_output(case: dict, patch: int) -> float:
    """Largest difference between our and MONAI's loaded, normalised and cropped image."""
    ours = Compose(pipeline(patch, seed=0).transforms[:4])(dict(case))["image"]
    theirs = np.moveaxis(np.asarray(monai_pipeline(patch, 0, True)(dict(case))["image"]), 0, -1)
    if ours.shape != theirs.shape:
        return float("inf")
    return float(np.abs(ours - theirs).max())


def time_cases(make, case: dict, patch: int, repeats: int, memory: bool) -> dict:
    """Median seconds per case of ``make(patch, seed)`` pipelines, and their peak memory.

    The timed runs go without ``tracemalloc``, which slows every NumPy allocation;
    the peak comes from one more run under it.
    """
    times = []
    for repeat in range(repeats):
        transform = make(patch, seed=repeat)
        start = time.perf_counter()
        patches = transform(dict(case))
        times.append(time.perf_counter() - start)
        shape = tuple(np.asarray(patches[0]["image"]).shape) if len(patches) == 4 else None
        if shape not in ((patch,) * 3 + (4,), (4,) + (patch,) * 3):
            raise RuntimeError(f"unexpected pipeline output: {len(patches)} patches of {shape}")
    result = {"seconds_per_case": statistics.median(times)}
    if memory:
        tracemalloc.start()
        make(patch, seed=repeats)(dict(case))
        result["peak_memory_mib"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small volumes, for CI")
    parser.add_argument("--repeats", type=int, default=None, help="cases timed")
    parser.add_argument("--compare", choices=("monai",), help="also run MONAI's transforms")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    shape, patch = ((64, 64, 48), 32) if args.quick else ((240, 240, 155), 128)
    repeats = args.repeats or (2 if args.quick else 5)

    skipped = skip_reason(args.compare)
    with tempfile.TemporaryDirectory() as tmp:
        case = write_case(Path(tmp), shape)
        load_times = []
        for _ in range(repeats):
            start = time.perf_counter()
            LoadImaged(["image", "label"])(dict(case))
            load_times.append(time.perf_counter() - start)
        ours = time_cases(pipeline, case, patch, repeats, memory=True)
        monai = None
        if args.compare == "monai" and not skipped:
            monai = time_cases(monai_pipeline, case, patch, repeats, memory=False)
            monai["max_abs_difference"] = same_deterministic_output(case, patch)
            monai["same_values"] = monai["max_abs_difference"] < 1e-4
            monai["speedup_vs_monai"] = monai["seconds_per_case"] / ours["seconds_per_case"]

    result = stamp(
        "pipeline",
        quick=args.quick,
        shape=list(shape),
        patch=patch,
        patches_per_case=4,
        repeats=repeats,
        seconds_per_case=ours["seconds_per_case"],
        seconds_loading_only=statistics.median(load_times),
        patches_per_second=4 / ours["seconds_per_case"],
        peak_memory_mib=ours["peak_memory_mib"],
        monai=monai or skipped or "not run",
    )
    name = f"pipeline-{'quick-' if args.quick else ''}{result['date'][:10]}"
    headers = [
        "case",
        "patches",
        "s per case",
        "of which loading",
        "patches/s",
        "peak memory (MiB)",
        "MONAI s per case",
        "MONAI time / ours",
        "same image after load, normalise, crop",
    ]
    row = [
        f"{'×'.join(map(str, shape))}×4",
        f"4 × {patch}³",
        f"{result['seconds_per_case']:.2f}",
        f"{result['seconds_loading_only']:.2f}",
        f"{result['patches_per_second']:.2f}",
        f"{result['peak_memory_mib']:.0f}",
        f"{monai['seconds_per_case']:.2f}" if monai else "–",
        f"{monai['speedup_vs_monai']:.2f}" if monai else "–",
        (f"{'yes' if monai['same_values'] else 'NO'} (max Δ {monai['max_abs_difference']:.1e})")
        if monai
        else "–",
    ]
    table = (
        f"# Pipeline — {result['date']}\n\nMachine: {result['machine']}; NumPy "
        f"{result['packages']['numpy']}, SciPy {result['packages']['scipy']}, nibabel "
        f"{result['packages']['nibabel']}, MONAI {result['packages']['monai']}. Median of "
        f"{repeats} cases.\n\n" + markdown_table(headers, [row])
    )
    if skipped:
        table += f"\n{skipped}\n"
    save(args.output, name, result, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
