"""Benchmark: preprocessing BraTS-like cases into the cache, and patches per second out of it.

1. Generate BraTS-sized cases (240 × 240 × 155, four modalities) as ``.nii.gz``.
2. Time :class:`~unetseg.data.PreprocessedCache` per case: load, convert labels,
   normalise inside the brain, crop to the brain, write ``.npy`` + ``.json``.
3. Time :class:`~unetseg.data.PatchDataset` batches of 128³ × 4 patches with
   flips and intensity augmentation, prepared by 1 and by 2 worker threads (the
   way ``PyDataset`` prepares batches ahead of the training step).

``--compare monai`` does the same with MONAI in the same run: a ``PersistentDataset``
(the deterministic transforms' output saved per case on disk) and a PyTorch
``DataLoader`` with 1 and 2 worker processes running ``RandCropByPosNegLabeld``
(one 128³ patch per case, half on tumour), flips and the same intensity
augmentation, in batches of 2.

    python benchmarks/cache.py            # 2 cases, 240 × 240 × 155
    python benchmarks/cache.py --quick    # small, for CI
    python benchmarks/cache.py --compare monai
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import RESULTS, markdown_table, save, stamp
from _monai import brats_transforms, skip_reason

from unetseg.data import PatchDataset, PreprocessedCache, find_brats_cases, write_synthetic_brats
from unetseg.transforms import (
    Compose,
    ConvertBratsLabelsd,
    CropForegroundd,
    LoadImaged,
    NormalizeIntensityd,
    RandFlipd,
    RandGaussianNoised,
    RandScaleIntensityd,
    RandShiftIntensityd,
)

KEYS = ["image", "label"]


def preprocessing() -> Compose:
    return Compose(
        [
            LoadImaged(KEYS),
            ConvertBratsLabelsd("label"),
            NormalizeIntensityd("image", nonzero=True, channel_wise=True),
            CropForegroundd(KEYS, source_key="image"),
        ]
    )


def augmentation() -> Compose:
    return Compose(
        [
            RandFlipd(KEYS, prob=0.5, spatial_axis=0),
            RandFlipd(KEYS, prob=0.5, spatial_axis=1),
            RandFlipd(KEYS, prob=0.5, spatial_axis=2),
            RandScaleIntensityd("image", factors=0.1, prob=1.0),
            RandShiftIntensityd("image", offsets=0.1, prob=1.0),
            RandGaussianNoised("image", prob=0.15, std=0.1),
        ]
    )


def patches_per_second(cases, patch: int, batches: int, workers: int) -> float:
    dataset = PatchDataset(cases, (patch,) * 3, batch_size=2, augment=augmentation(), seed=0)
    dataset[0]  # warm the page cache of the memory-mapped arrays
    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(dataset.__getitem__, range(batches)):
            pass
    return 2 * batches / (time.perf_counter() - start)


def monai_rates(records, cache_dir: Path, patch: int, batches: int) -> dict:
    """MONAI's seconds per case into a ``PersistentDataset`` and patches/s out of it."""
    import torch
    from monai.data import DataLoader, PersistentDataset

    # The same augmentation as ours (no contrast change), one patch per case.
    transform = brats_transforms(patch, num_samples=1, contrast=False).set_random_state(seed=0)
    items = [{"image": record["image"], "label": record["label"]} for record in records]
    per_case = []
    for item in items:  # the first access computes and saves the deterministic part
        start = time.perf_counter()
        PersistentDataset([item], transform, cache_dir=cache_dir)[0]
        per_case.append(time.perf_counter() - start)
    dataset = PersistentDataset(items * (batches + 1), transform, cache_dir=cache_dir)
    torch.manual_seed(0)
    rates = {}
    for workers in (1, 2):
        batch_iterator = iter(DataLoader(dataset, batch_size=2, num_workers=workers))
        next(batch_iterator)  # starts the worker processes
        start = time.perf_counter()
        count = sum(1 for _ in batch_iterator)
        rates[workers] = 2 * count / (time.perf_counter() - start)
    return {
        "seconds_per_case_into_cache": statistics.median(per_case),
        "patches_per_second_1_worker": rates[1],
        "patches_per_second_2_workers": rates[2],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small volumes, for CI")
    parser.add_argument("--cases", type=int, default=2, help="cases to generate and cache")
    parser.add_argument("--batches", type=int, default=None, help="batches timed per setting")
    parser.add_argument("--compare", choices=("monai",), help="also run MONAI's datasets")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    skipped = skip_reason(args.compare)
    shape, patch = ((64, 64, 48), 32) if args.quick else ((240, 240, 155), 128)
    batches = args.batches or (2 if args.quick else 10)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "brats"
        write_synthetic_brats(root, args.cases, shape=shape, seed=0, progress=False)
        records = find_brats_cases(root, require_labels=True)
        cache = PreprocessedCache(Path(tmp) / "cache", preprocessing())
        per_case = []
        for record in records:
            start = time.perf_counter()
            cache.build([record], progress=False)
            per_case.append(time.perf_counter() - start)
        cases = cache.build(records, progress=False)
        rates = {w: patches_per_second(cases, patch, batches, w) for w in (1, 2)}
        monai = None
        if args.compare == "monai" and not skipped:
            monai = monai_rates(records, Path(tmp) / "monai_cache", patch, batches)

    result = stamp(
        "cache",
        quick=args.quick,
        shape=list(shape),
        patch=patch,
        cases=args.cases,
        seconds_per_case_into_cache=statistics.median(per_case),
        patches_per_second_1_worker=rates[1],
        patches_per_second_2_workers=rates[2],
        batches_timed=batches,
        monai=monai or skipped or "not run",
    )
    name = f"cache-{'quick-' if args.quick else ''}{result['date'][:10]}"
    headers = ["case", "s per case into cache", "patch", "patches/s, 1 worker", "2 workers"]
    headers.insert(0, "framework")
    rows = [
        [
            "unetseg",
            f"{'×'.join(map(str, shape))}×4",
            f"{result['seconds_per_case_into_cache']:.2f}",
            f"{patch}³×4, augmented",
            f"{rates[1]:.1f}",
            f"{rates[2]:.1f}",
        ]
    ]
    if monai:
        rows.append(
            [
                "monai",
                f"{'×'.join(map(str, shape))}×4",
                f"{monai['seconds_per_case_into_cache']:.2f}",
                f"{patch}³×4, augmented",
                f"{monai['patches_per_second_1_worker']:.1f}",
                f"{monai['patches_per_second_2_workers']:.1f}",
            ]
        )
    table = (
        f"# Cache and patches — {result['date']}\n\nMachine: {result['machine']}; NumPy "
        f"{result['packages']['numpy']}, MONAI {result['packages']['monai']}. Median over "
        f"{args.cases} cases; {batches} batches of 2 per setting (unetseg: worker threads, "
        "MONAI: DataLoader worker processes).\n\n" + markdown_table(headers, rows)
    )
    if skipped:
        table += f"\n{skipped}\n"
    save(args.output, name, result, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
