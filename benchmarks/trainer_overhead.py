"""Benchmark: the Trainer's overhead over a bare ``model.fit`` on the same data and model.

Both train the same U-Net on the same :class:`~unetseg.data.PatchDataset` of generated
cases with the same optimiser and loss; the Trainer adds its callbacks (epoch seeding,
throughput, NaN check, history and checkpoints written atomically every epoch), but no
validation. Each epoch is timed by the same callback; the first epoch (tracing and
compilation) is left out of the figures.

    python benchmarks/trainer_overhead.py
    KERAS_BACKEND=jax python benchmarks/trainer_overhead.py

``--quick`` runs a tiny configuration for CI. Results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
from _common import RESULTS, markdown_table, save, stamp

from unetseg.data import PatchDataset, PreprocessedCache, find_brats_cases, write_synthetic_brats
from unetseg.losses import DiceCE
from unetseg.networks import UNetConfig
from unetseg.recipes import preprocessing
from unetseg.training import Trainer, build_optimizer, build_schedule


class EpochTimes(keras.callbacks.Callback):
    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._start)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patch", type=int, default=64, help="patch edge (default 64)")
    parser.add_argument("--batch", type=int, default=2, help="batch size (default 2)")
    parser.add_argument("--steps", type=int, default=10, help="steps per epoch (default 10)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs, the first untimed")
    parser.add_argument("--quick", action="store_true", help="a tiny configuration for CI")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    features = (16, 32, 64, 128)
    shape = (96, 96, 64)
    if args.quick:
        args.patch, args.batch, args.steps, args.epochs = 16, 2, 2, 2
        features, shape = (4, 8), (32, 32, 24)

    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        write_synthetic_brats(root / "data", 2, shape=shape, progress=False)
        records = find_brats_cases(root / "data")
        cache = PreprocessedCache(root / "cache", preprocessing())  # the recipe's
        cases = cache.build(records, progress=False)
        config = UNetConfig(
            spatial_dims=3, in_channels=4, out_channels=3, features=features, norm="instance"
        )

        def data() -> PatchDataset:
            return PatchDataset(
                cases, (args.patch,) * 3, batch_size=args.batch, steps_per_epoch=args.steps
            )

        total = args.epochs * args.steps
        keras.utils.set_random_seed(0)
        model = config.build()
        model.compile(
            optimizer=build_optimizer("sgd", build_schedule("poly", 1e-2, total)),
            loss=DiceCE(),
        )
        bare = EpochTimes()
        model.fit(data(), epochs=args.epochs, callbacks=[bare], verbose=0)

        trainer = Trainer(
            config,
            work_dir=root / "run",
            task="brats_regions",
            loss=DiceCE(),
            metrics=(),  # as the bare model.fit above
            verbose=0,
        )
        wrapped = EpochTimes()
        trainer.fit(data(), epochs=args.epochs, callbacks=[wrapped])

    patches = args.steps * args.batch
    bare_s = statistics.median(bare.times[1:] or bare.times)
    trainer_s = statistics.median(wrapped.times[1:] or wrapped.times)
    result = {
        "patch": args.patch,
        "batch": args.batch,
        "steps_per_epoch": args.steps,
        "features": list(features),
        "bare_epoch_s": bare_s,
        "trainer_epoch_s": trainer_s,
        "bare_patches_per_s": patches / bare_s,
        "trainer_patches_per_s": patches / trainer_s,
        "overhead_percent": 100 * (trainer_s / bare_s - 1),
        "bare_epochs_s": bare.times,
        "trainer_epochs_s": wrapped.times,
    }
    info = stamp("trainer_overhead", devices=True, quick=args.quick)
    name = (
        f"trainer_overhead-{'quick-' if args.quick else ''}{args.patch}-{info['backend']}-"
        f"{info['date'][:10]}"
    )
    headers = ["loop", "patch", "batch", "epoch (s)", "patches/s"]
    rows = [
        ["model.fit", f"{args.patch}³", args.batch, f"{bare_s:.2f}", f"{patches / bare_s:.2f}"],
        [
            "Trainer.fit",
            f"{args.patch}³",
            args.batch,
            f"{trainer_s:.2f}",
            f"{patches / trainer_s:.2f}",
        ],
    ]
    table = (
        f"# Trainer overhead — {info['date']}\n\nMachine: {info['machine']}; devices "
        f"{', '.join(info['devices'])}; backend {info['backend']}; U-Net features "
        f"{list(features)}, {args.steps} steps per epoch, median of epochs 2–{args.epochs}. "
        f"Trainer overhead: {result['overhead_percent']:+.1f}% (checkpoints and history "
        "written every epoch).\n\n" + markdown_table(headers, rows)
    )
    save(args.output, name, {**info, "result": result}, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
