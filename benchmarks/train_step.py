"""Benchmark: time of one training step (forward + backward + update) of a U-Net preset.

Runs on whatever Keras backend ``KERAS_BACKEND`` selects, in float32 or mixed
precision, and reports the median step time, the FLOPs of a step counted from
the layers (:func:`unetseg.networks.count_flops`) and the throughput they imply.
The loss is nnU-Net's: Dice + cross-entropy with deep supervision when the
preset has it.

    KERAS_BACKEND=tensorflow python benchmarks/train_step.py --size 64 --batch 2
    KERAS_BACKEND=jax python benchmarks/train_step.py --size 64 --batch 2

``--quick`` runs a tiny configuration for CI. Results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from _common import RESULTS, markdown_table, save, stamp

from unetseg.losses import DeepSupervision, DiceCE
from unetseg.networks import NETWORKS, count_flops


def measure(preset: str, size: int, batch: int, steps: int, precision: str, base: int | None):
    keras.config.set_dtype_policy(precision)
    keras.utils.set_random_seed(0)
    overrides = {"input_size": (size,) * 3 if preset.endswith("3d") else (size,) * 2}
    if base is not None:
        overrides["base_features"] = base
    config = NETWORKS.create(preset, **overrides)
    model = config.build()
    loss = DiceCE(activation="sigmoid" if config.output_activation is None else "softmax")
    outputs = len(model.outputs)
    if config.deep_supervision:
        model.compile(
            optimizer=keras.optimizers.SGD(1e-2, momentum=0.99, nesterov=True),
            **DeepSupervision(loss).compile_arguments(outputs),
        )
    else:
        model.compile(optimizer=keras.optimizers.SGD(1e-2, momentum=0.99, nesterov=True), loss=loss)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, *config.input_size, config.in_channels)).astype("float32")
    y = (rng.random((batch, *config.input_size, config.out_channels)) > 0.9).astype("float32")
    targets = (y,) * outputs if config.deep_supervision else y
    start = time.perf_counter()
    model.train_on_batch(x, targets)  # compiles
    first = time.perf_counter() - start
    model.train_on_batch(x, targets)
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        model.train_on_batch(x, targets)
        times.append(time.perf_counter() - start)
    step = statistics.median(times)
    flops = count_flops(model, batch_size=batch)["training_step"]
    return {
        "preset": preset,
        "input_size": list(config.input_size),
        "batch": batch,
        "precision": precision,
        "parameters": model.count_params(),
        "first_step_s": first,
        "step_s": step,
        "steps_timed": steps,
        "training_step_tflop": flops / 1e12,
        "achieved_gflops": flops / step / 1e9,
        "voxels_per_s": batch * float(np.prod(config.input_size)) / step,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="nnunet_3d", help="network preset (default nnunet_3d)")
    parser.add_argument("--size", type=int, default=64, help="patch edge length (default 64)")
    parser.add_argument("--batch", type=int, default=2, help="batch size (default 2)")
    parser.add_argument("--steps", type=int, default=5, help="timed steps (default 5)")
    parser.add_argument("--precision", default="float32", help="float32, mixed_float16, …")
    parser.add_argument("--base-features", type=int, default=None, help="override the width")
    parser.add_argument("--quick", action="store_true", help="a tiny configuration for CI")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    if args.quick:
        args.size, args.batch, args.steps, args.base_features = 32, 1, 1, 4

    result = measure(
        args.preset, args.size, args.batch, args.steps, args.precision, args.base_features
    )
    info = stamp("train_step", devices=True, quick=args.quick)
    name = (
        f"train_step-{'quick-' if args.quick else ''}{result['preset']}-{args.size}-"
        f"{info['backend']}-{args.precision}-{info['date'][:10]}"
    )
    headers = [
        "preset",
        "input",
        "batch",
        "backend",
        "precision",
        "step (s)",
        "TFLOP/step",
        "GFLOP/s",
    ]
    row = [
        result["preset"],
        "×".join(map(str, result["input_size"])),
        args.batch,
        info["backend"],
        args.precision,
        f"{result['step_s']:.3f}",
        f"{result['training_step_tflop']:.3f}",
        f"{result['achieved_gflops']:.1f}",
    ]
    table = (
        f"# Training step — {info['date']}\n\nMachine: {info['machine']}; devices "
        f"{', '.join(info['devices'])}; Keras {info['packages']['keras']}; unetseg "
        f"{info['unetseg']}. Median of {result['steps_timed']} steps after 2 warm-up "
        "steps.\n\n" + markdown_table(headers, [row])
    )
    save(args.output, name, {**info, "result": result}, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
