"""Benchmark: sliding-window inference of one BraTS-sized case with a U-Net preset.

One 240×240×155×4 image goes through :class:`unetseg.inference.SlidingWindowInferer`
(128³ windows, overlap 0.5, Gaussian blending) with the ``nnunet_3d`` preset, with
and without flip test-time augmentation. The first model call (tracing and
compilation) is timed apart from the run; the run itself is timed end to end,
window extraction and blending included, from the NumPy image in host memory to the
NumPy probabilities. Runs on the backend ``KERAS_BACKEND`` selects.

``--compare monai`` runs the same work with MONAI in the same run: ``DynUNet`` with
the same stages and filters, ``monai.inferers.sliding_window_inference`` with the same
window, overlap, Gaussian (σ = window/8) and windows per call, and flip TTA as eight
mirrored passes. The networks start from different random weights, so only the
work done (windows, output shape) is compared, not the values.

    KERAS_BACKEND=tensorflow python benchmarks/inference_latency.py
    KERAS_BACKEND=jax python benchmarks/inference_latency.py --tta both --compare monai

``--quick`` runs a tiny configuration for CI. Results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import keras
import numpy as np
from _common import RESULTS, accelerator_name, markdown_table, save, stamp
from _monai import skip_reason

from unetseg.inference import SlidingWindowInferer
from unetseg.networks import NETWORKS


def measure(
    model, image: np.ndarray, roi: int, overlap: float, batch: int, tta: bool, blending: str
) -> dict:
    inferer = SlidingWindowInferer(
        (roi,) * 3, overlap=overlap, batch_size=batch, tta=tta, blending=blending
    )
    start = time.perf_counter()
    if inferer.uses_device(model):
        # The network, window extraction and accumulation compile on the first image of
        # a shape: one whole prediction.
        inferer(model, image)
    else:
        warm = np.zeros((batch, roi, roi, roi, image.shape[-1]), np.float32)
        inferer.predict_function(model)(warm)  # traces and compiles the predict function
    compile_s = time.perf_counter() - start
    start = time.perf_counter()
    probabilities = inferer(model, image)
    seconds = time.perf_counter() - start
    return {
        "framework": "unetseg",
        "blending": "device" if inferer.uses_device(model) else "numpy",
        "tta": tta,
        "first_call_s": compile_s,
        "seconds": seconds,
        "windows": inferer.windows,
        "model_calls": inferer.model_calls,
        "windows_per_s": inferer.windows * (8 if tta else 1) / seconds,
        "output_shape": list(probabilities.shape),
        "output_mean": float(probabilities.mean()),
    }


def measure_monai(
    config, image: np.ndarray, roi: int, overlap: float, batch: int, tta: bool, precision: str
) -> dict:
    """The same inference with MONAI's DynUNet and ``sliding_window_inference``."""
    import torch
    from _monai import autocast, dynunet, synchronize, torch_device
    from monai.inferers import sliding_window_inference

    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    device = torch_device()
    network = dynunet(config).to(device).eval()
    calls = {"model_calls": 0, "windows": 0}

    def predictor(windows: torch.Tensor) -> torch.Tensor:
        calls["model_calls"] += 1
        calls["windows"] += windows.shape[0]
        return network(windows)

    def infer(volume: torch.Tensor) -> torch.Tensor:
        return sliding_window_inference(
            volume, (roi,) * 3, batch, predictor, overlap, mode="gaussian", sigma_scale=0.125
        )

    spatial = (2, 3, 4)
    flips = [axes for n in range(4) for axes in itertools.combinations(spatial, n)] if tta else [()]
    with torch.inference_mode(), autocast(precision, device):
        start = time.perf_counter()
        network(torch.zeros((batch, image.shape[-1], roi, roi, roi), device=device))
        synchronize(device)
        compile_s = time.perf_counter() - start
        start = time.perf_counter()
        volume = torch.from_numpy(np.moveaxis(image, -1, 0)[None].copy()).to(device)
        logits = sum(
            torch.flip(infer(torch.flip(volume, axes)), axes) if axes else infer(volume)
            for axes in flips
        ) / len(flips)
        probabilities = np.moveaxis(torch.sigmoid(logits.float())[0].cpu().numpy(), 0, -1)
        seconds = time.perf_counter() - start
    return {
        "framework": "monai",
        "tta": tta,
        "first_call_s": compile_s,
        "seconds": seconds,
        "windows": calls["windows"] // len(flips),
        "model_calls": calls["model_calls"],
        "windows_per_s": calls["windows"] / seconds,
        "output_shape": list(probabilities.shape),
        "output_mean": float(probabilities.mean()),
    }


def compare(results: list[dict]) -> None:
    """Give each unetseg result the ratio of MONAI's time to its own for the same work."""
    monai = {r["tta"]: r for r in results if r["framework"] == "monai"}
    for result in results:
        other = monai.get(result["tta"])
        if result["framework"] == "unetseg" and other is not None:
            result["speedup_vs_monai"] = other["seconds"] / result["seconds"]
            result["same_work"] = (
                result["output_shape"] == other["output_shape"]
                and result["windows"] == other["windows"]
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="nnunet_3d", help="network preset (default nnunet_3d)")
    parser.add_argument("--roi", type=int, default=128, help="window edge (default 128)")
    parser.add_argument("--overlap", type=float, default=0.5, help="window overlap (default 0.5)")
    parser.add_argument("--batch", type=int, default=2, help="windows per model call (default 2)")
    parser.add_argument(
        "--tta", choices=("off", "on", "both"), default="off", help="flip TTA (default off)"
    )
    parser.add_argument(
        "--blending",
        choices=("auto", "numpy", "device", "both"),
        default="both",
        help="where windows are cut and blended; both: numpy and device (default both)",
    )
    parser.add_argument("--precision", default="float32", help="float32, mixed_bfloat16, …")
    parser.add_argument("--compare", choices=("monai",), help="also run the same work with MONAI")
    parser.add_argument(
        "--features",
        type=int,
        nargs=2,
        metavar=("BASE", "MAX"),
        help="the preset's first-stage and largest feature counts (a smaller network, "
        "so that the work around it shows on a CPU)",
    )
    parser.add_argument(
        "--pointwise",
        action="store_true",
        help="replace the network by one 1×1×1 convolution (the preset's channels): the "
        "time is then the work around the network (no MONAI comparison)",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny configuration for CI")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    shape = (240, 240, 155)
    overrides: dict = {}
    if args.features:
        overrides = {"base_features": args.features[0], "max_features": args.features[1]}
    if args.quick:
        shape, args.roi, args.batch, args.tta = (40, 36, 30), 16, 2, "both"
        overrides = {"base_features": 4, "max_features": 16, "num_stages": 3, "strides": [1, 2, 2]}

    keras.config.set_dtype_policy(args.precision)
    keras.utils.set_random_seed(0)
    config = NETWORKS.create(args.preset, input_size=None, **overrides)
    model = config.build()
    if args.pointwise:
        inputs = keras.Input((None, None, None, config.in_channels))
        model = keras.Model(inputs, keras.layers.Conv3D(config.out_channels, 1)(inputs))
        args.preset, args.compare = "pointwise", None
    parameters = model.count_params()
    image = np.random.default_rng(0).normal(size=(*shape, config.in_channels)).astype("float32")
    runs = {"off": [False], "on": [True], "both": [False, True]}[args.tta]
    blendings = ["numpy", "device"] if args.blending == "both" else [args.blending]
    results = [
        measure(model, image, args.roi, args.overlap, args.batch, tta, blending)
        for blending in blendings
        for tta in runs
    ]
    reference = {r["tta"]: r for r in results if r["blending"] == "numpy"}
    for result in results:  # the two paths must agree (they are tested to 1e-5)
        other = reference.get(result["tta"])
        if other is not None and result is not other:
            result["mean_difference_vs_numpy"] = abs(result["output_mean"] - other["output_mean"])
    skipped = skip_reason(args.compare)
    if args.compare == "monai" and not skipped:
        del model
        gc.collect()
        results += [
            measure_monai(config, image, args.roi, args.overlap, args.batch, tta, args.precision)
            for tta in runs
        ]
        compare(results)

    gpu = accelerator_name()
    info = stamp("inference_latency", devices=True, quick=args.quick, accelerator=gpu)
    info["monai"] = skipped or ("compared" if args.compare else "not run")
    name = (
        f"inference_latency-{'quick-' if args.quick else ''}{args.preset}"
        f"{'-' + '_'.join(map(str, args.features)) if args.features else ''}-{args.roi}-"
        f"{info['backend']}-{args.precision}-{gpu or 'cpu'}-{info['date'][:10]}"
    ).replace(" ", "_")
    headers = [
        "framework",
        "blending",
        "image",
        "window",
        "overlap",
        "TTA",
        "windows",
        "model calls",
    ]
    headers += ["first call (s)", "inference (s)", "windows/s", "MONAI time / ours"]
    rows = [
        [
            r["framework"],
            r.get("blending", "–"),
            "×".join(map(str, (*shape, config.in_channels))),
            f"{args.roi}³",
            args.overlap,
            "flips" if r["tta"] else "none",
            r["windows"],
            r["model_calls"],
            f"{r['first_call_s']:.1f}",
            f"{r['seconds']:.1f}",
            f"{r['windows_per_s']:.2f}",
            f"{r['speedup_vs_monai']:.2f}" if "speedup_vs_monai" in r else "–",
        ]
        for r in results
    ]
    table = (
        f"# Inference latency — {info['date']}\n\nMachine: {info['machine']}; accelerator "
        f"{gpu or 'none (CPU)'}; devices {', '.join(info['devices'])}; backend "
        f"{info['backend']}, {args.precision}; preset "
        f"{args.preset}, {args.batch} windows per call; Keras {info['packages']['keras']}; "
        f"unetseg {info['unetseg']}, MONAI {info['packages']['monai']}. Windows/s counts "
        "mirrored windows under TTA; the time runs from the NumPy image to the NumPy "
        "probabilities.\n\n" + markdown_table(headers, rows)
    )
    if skipped:
        table += f"\n{skipped}\n"
    record = {
        **info,
        "preset": args.preset,
        "features": args.features,
        "parameters": parameters,
        "image_shape": [*shape, config.in_channels],
        "roi": args.roi,
        "overlap": args.overlap,
        "batch": args.batch,
        "precision": args.precision,
        "blending": args.blending,
        "results": results,
    }
    save(args.output, name, record, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
