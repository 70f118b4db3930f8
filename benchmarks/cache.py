"""Benchmark: preprocessing BraTS-like cases into the cache, and patches per second out of it.

1. Generate BraTS-sized cases (240 × 240 × 155, four modalities) as ``.nii.gz``.
2. Time :class:`~unetseg.data.PreprocessedCache` per case: load, convert labels,
   normalise inside the brain, crop to the brain, write ``.npy`` + ``.json``.
3. Time :class:`~unetseg.data.PatchDataset` batches of 128³ × 4 patches with
   flips and intensity augmentation, prepared by 1 and by 2 worker threads (the
   way ``PyDataset`` prepares batches ahead of the training step).

    python benchmarks/cache.py            # 2 cases, 240 × 240 × 155
    python benchmarks/cache.py --quick    # small, for CI
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from _common import RESULTS, markdown_table, save, stamp

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small volumes, for CI")
    parser.add_argument("--cases", type=int, default=2, help="cases to generate and cache")
    parser.add_argument("--batches", type=int, default=None, help="batches timed per setting")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
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
    )
    name = f"cache-{'quick-' if args.quick else ''}{result['date'][:10]}"
    headers = ["case", "s per case into cache", "patch", "patches/s, 1 worker", "2 workers"]
    row = [
        f"{'×'.join(map(str, shape))}×4",
        f"{result['seconds_per_case_into_cache']:.2f}",
        f"{patch}³×4, augmented",
        f"{rates[1]:.1f}",
        f"{rates[2]:.1f}",
    ]
    table = (
        f"# Cache and patches — {result['date']}\n\nMachine: {result['machine']}; NumPy "
        f"{result['packages']['numpy']}. Median over {args.cases} cases; {batches} batches "
        "of 2 per setting.\n\n" + markdown_table(headers, [row])
    )
    save(args.output, name, result, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
