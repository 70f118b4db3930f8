"""Benchmark: sliding-window inference of one BraTS-sized case with a U-Net preset.

One 240×240×155×4 image goes through :class:`unetseg.inference.SlidingWindowInferer`
(128³ windows, overlap 0.5, Gaussian blending) with the ``nnunet_3d`` preset, with
and without flip test-time augmentation. The first model call (tracing and
compilation) is timed apart from the run; the run itself is timed end to end,
window extraction and blending included. Runs on the backend ``KERAS_BACKEND`` selects.

    KERAS_BACKEND=tensorflow python benchmarks/inference_latency.py
    KERAS_BACKEND=jax python benchmarks/inference_latency.py --tta both

``--quick`` runs a tiny configuration for CI. Results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np
from _common import RESULTS, markdown_table, save, stamp

from unetseg.inference import SlidingWindowInferer
from unetseg.networks import NETWORKS


def measure(model, image: np.ndarray, roi: int, overlap: float, batch: int, tta: bool) -> dict:
    inferer = SlidingWindowInferer((roi,) * 3, overlap=overlap, batch_size=batch, tta=tta)
    predict = inferer.predict_function(model)
    warm = np.zeros((batch, roi, roi, roi, image.shape[-1]), np.float32)
    start = time.perf_counter()
    predict(warm)  # traces and compiles the one predict function
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    probabilities = inferer(model, image)
    seconds = time.perf_counter() - start
    return {
        "tta": tta,
        "first_call_s": compile_s,
        "seconds": seconds,
        "windows": inferer.windows,
        "model_calls": inferer.model_calls,
        "windows_per_s": inferer.windows * (8 if tta else 1) / seconds,
        "output_shape": list(probabilities.shape),
        "output_mean": float(probabilities.mean()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="nnunet_3d", help="network preset (default nnunet_3d)")
    parser.add_argument("--roi", type=int, default=128, help="window edge (default 128)")
    parser.add_argument("--overlap", type=float, default=0.5, help="window overlap (default 0.5)")
    parser.add_argument("--batch", type=int, default=2, help="windows per model call (default 2)")
    parser.add_argument(
        "--tta", choices=("off", "on", "both"), default="off", help="flip TTA (default off)"
    )
    parser.add_argument("--precision", default="float32", help="float32, mixed_float16, …")
    parser.add_argument("--quick", action="store_true", help="a tiny configuration for CI")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    shape = (240, 240, 155)
    overrides: dict = {}
    if args.quick:
        shape, args.roi, args.batch, args.tta = (40, 36, 30), 16, 2, "both"
        overrides = {"base_features": 4, "max_features": 16, "num_stages": 3, "strides": [1, 2, 2]}

    keras.config.set_dtype_policy(args.precision)
    keras.utils.set_random_seed(0)
    config = NETWORKS.create(args.preset, input_size=None, **overrides)
    model = config.build()
    image = np.random.default_rng(0).normal(size=(*shape, config.in_channels)).astype("float32")
    runs = {"off": [False], "on": [True], "both": [False, True]}[args.tta]
    results = [measure(model, image, args.roi, args.overlap, args.batch, tta) for tta in runs]

    info = stamp("inference_latency", devices=True, quick=args.quick)
    name = (
        f"inference_latency-{'quick-' if args.quick else ''}{args.preset}-{args.roi}-"
        f"{info['backend']}-{args.precision}-{info['date'][:10]}"
    )
    headers = ["image", "window", "overlap", "TTA", "windows", "model calls", "first call (s)"]
    headers += ["inference (s)", "windows/s"]
    rows = [
        [
            "×".join(map(str, (*shape, config.in_channels))),
            f"{args.roi}³",
            args.overlap,
            "flips" if r["tta"] else "none",
            r["windows"],
            r["model_calls"],
            f"{r['first_call_s']:.1f}",
            f"{r['seconds']:.1f}",
            f"{r['windows_per_s']:.2f}",
        ]
        for r in results
    ]
    table = (
        f"# Inference latency — {info['date']}\n\nMachine: {info['machine']}; devices "
        f"{', '.join(info['devices'])}; backend {info['backend']}, {args.precision}; preset "
        f"{args.preset}, {args.batch} windows per call; Keras {info['packages']['keras']}; "
        f"unetseg {info['unetseg']}. Windows/s counts mirrored windows under TTA.\n\n"
        + markdown_table(headers, rows)
    )
    record = {
        **info,
        "preset": args.preset,
        "parameters": model.count_params(),
        "image_shape": [*shape, config.in_channels],
        "roi": args.roi,
        "overlap": args.overlap,
        "batch": args.batch,
        "precision": args.precision,
        "results": results,
    }
    save(args.output, name, record, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
