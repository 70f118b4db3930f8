"""Benchmark: one BraTS case from its NIfTI files to its written label map, per stage.

A generated full-size case (240×240×155, four modalities, BraTS 2020 layout) goes
through a :class:`unetseg.inference.Predictor` as the ``3d_fullres`` recipe builds it:
load and preprocess (refuse a constant modality, z-score over the brain, crop to the
brain), sliding-window inference (128³ windows, overlap 0.5, Gaussian, two windows
per call; ``--tta`` adds the 8 flips; ``--folds K`` averages K networks, as the
recipe predicts with its cross-validation folds), post-processing (background outside
the brain, back onto the source grid, the regions thresholded and nested into BraTS
labels, small enhancing tumour relabelled, background where the source files are
empty) and writing the ``uint8`` NIfTI. With device blending the labels are decoded
on the device (``SlidingWindowInferer.label_map``, timed as inference) and only they
come back. The
networks are ``nnunet_3d`` with random weights (``--features`` makes them smaller).
The case is predicted once to compile, then each stage is timed over ``--repeats``
runs (the fastest kept), and the whole ``Predictor.predict`` (the real path, manifest
included) as often; with ``--cases N`` it predicts N generated cases in one call (the
next case is preprocessed while one is predicted) and reports the time per case.

``--compare monai`` does the same with MONAI in the same run: ``LoadImaged``,
``EnsureChannelFirstd``, ``NormalizeIntensityd(nonzero, channel_wise)`` and
``CropForegroundd``; ``sliding_window_inference`` of K ``DynUNet`` networks (their
sigmoid outputs averaged; TTA as 8 mirrored passes) on the device; the crop undone
with ``Invertd``; the regions thresholded and nested into labels with PyTorch; and
``SaveImage``.

    KERAS_BACKEND=jax python benchmarks/case_latency.py --compare monai --tta both
    python benchmarks/case_latency.py --features 4 32 --blending both
    python benchmarks/case_latency.py --quick

Results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import keras
import numpy as np
from _common import RESULTS, accelerator_name, markdown_table, save, stamp
from _monai import skip_reason

from unetseg.data.synthetic import QUICK_SHAPE, write_synthetic_brats
from unetseg.inference import (
    BratsPostprocess,
    Ensemble,
    Predictor,
    SlidingWindowInferer,
    background_outside_input,
    write_label_map,
)
from unetseg.networks import NETWORKS
from unetseg.recipes.pieces import find_cases, preprocessing

STAGES = ("preprocess", "inference", "postprocess", "write")


def _timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def _fastest(runs: list[dict]) -> dict:
    """Per stage, the fastest of several runs' seconds."""
    return {stage: min(run[stage] for run in runs) for stage in runs[0]}


def _stages(predictor: Predictor, record: dict, out: Path) -> tuple[dict, np.ndarray, tuple, bool]:
    """One case through the Predictor's steps, each timed: the seconds per stage, the
    label map, the cropped image's shape and whether the labels were decoded on the
    device."""
    inferer, post = predictor.inferer, predictor.postprocess
    seconds = {}
    prepared, seconds["preprocess"] = _timed(predictor.preprocess, dict(record))
    image, meta = prepared["image"], prepared["image_meta"]
    on_device = predictor.decodes_on_device(meta)
    if on_device:  # the label map decoded on the device, only it brought back
        labels, seconds["inference"] = _timed(
            inferer.label_map,
            predictor.model,
            image,
            post.task,
            post.threshold,
            background_where_empty=predictor.outside_is_background,
        )
        start = time.perf_counter()
        labels = post.from_labels(labels, meta)
    else:
        probabilities, seconds["inference"] = _timed(inferer, predictor.model, image)
        start = time.perf_counter()
        if predictor.outside_is_background:
            background_outside_input(probabilities, image)
        labels = post(probabilities, meta)
    labels = predictor.background_on_source(labels, meta)  # reads the source files again
    seconds["postprocess"] = time.perf_counter() - start
    _, seconds["write"] = _timed(write_label_map, labels, out / "stages.nii.gz", meta)
    return seconds, labels, image.shape, on_device


def measure(
    models,
    records: list[dict],
    roi: int,
    tta: bool,
    blending: str,
    out: Path,
    repeats: int = 1,
) -> dict:
    """The stages of one case through unetseg's Predictor, after a first (compiling)
    run: the fastest of ``repeats`` runs per stage (on the first case), and of the whole
    ``predict`` of every case, per case."""
    model = models[0] if len(models) == 1 else Ensemble(models, "sigmoid")
    activation = "sigmoid" if len(models) == 1 else None  # an Ensemble averages probabilities
    inferer = SlidingWindowInferer(
        (roi,) * 3, batch_size=2, tta=tta, activation=activation, blending=blending
    )
    predictor = Predictor(
        model,
        inferer,
        preprocessing(with_label=False),
        BratsPostprocess(min_enhancing_voxels=200),
    )
    record = records[0]
    _, first_s = _timed(predictor.predict_record, record)  # compiles for this shape
    runs = [_stages(predictor, record, out) for _ in range(repeats)]
    _, labels, shape, on_device = runs[-1]
    totals = [  # per case, over all the cases (the next one is prepared meanwhile)
        _timed(predictor.predict, records, out / "predict", overwrite=True, progress=False)[1]
        / len(records)
        for _ in range(repeats)
    ]
    return {
        "framework": "unetseg",
        "blending": "device" if inferer.uses_device(predictor.model) else "numpy",
        "labels_on_device": on_device,
        "tta": tta,
        "folds": len(models),
        "first_case_s": first_s,
        "stages_s": _fastest([run[0] for run in runs]),
        "predict_s": min(totals),
        "cropped_shape": list(shape),
        "tumour_voxels": int((labels > 0).sum()),
    }


def measure_monai(
    configs, record: dict, roi: int, tta: bool, precision: str, out: Path, repeats: int = 1
) -> dict:
    """The same case with MONAI's transforms, sliding window, Invertd and SaveImage (the
    fastest of ``repeats`` runs per stage, after a first)."""
    import torch
    from _monai import autocast, dynunet, synchronize, torch_device
    from monai import transforms as mt
    from monai.inferers import sliding_window_inference

    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    device = torch_device()
    networks = [dynunet(config).to(device).eval() for config in configs]
    preprocess = mt.Compose(
        [
            mt.LoadImaged("image", image_only=False),
            mt.EnsureChannelFirstd("image"),
            mt.NormalizeIntensityd("image", nonzero=True, channel_wise=True),
            mt.CropForegroundd("image", source_key="image", margin=2),
        ]
    )
    invert = mt.Invertd("pred", transform=preprocess, orig_keys="image", nearest_interp=False)
    flips = [a for n in range(4) for a in itertools.combinations((2, 3, 4), n)] if tta else [()]

    def infer(volume: torch.Tensor) -> torch.Tensor:
        total = 0
        for network in networks:
            for axes in flips:
                flipped = torch.flip(volume, axes) if axes else volume
                logits = sliding_window_inference(
                    flipped, (roi,) * 3, 2, network, 0.5, mode="gaussian", sigma_scale=0.125
                )
                logits = torch.flip(logits, axes) if axes else logits
                total = total + torch.sigmoid(logits.float())
        return total / (len(networks) * len(flips))

    def labels_of(probabilities: torch.Tensor) -> torch.Tensor:
        wt, tc, et = (probabilities > 0.5).unbind(0)
        labels = torch.zeros_like(wt, dtype=torch.uint8)
        labels[wt] = 2
        labels[tc] = 1
        labels[et] = 4
        return labels[None]

    def run(seconds: dict) -> torch.Tensor:
        start = time.perf_counter()
        data = preprocess({"image": record["image"]})
        seconds["preprocess"] = time.perf_counter() - start
        start = time.perf_counter()
        with torch.inference_mode(), autocast(precision, device):
            volume = data["image"].as_tensor()[None].to(device)
            probabilities = infer(volume)[0]
            synchronize(device)
        seconds["inference"] = time.perf_counter() - start
        start = time.perf_counter()
        data["pred"] = mt.utils.convert_to_dst_type(probabilities.cpu(), data["image"])[0]
        restored = invert(data)["pred"]
        labels = labels_of(restored.as_tensor())
        seconds["postprocess"] = time.perf_counter() - start
        start = time.perf_counter()
        writer = mt.SaveImage(out / "monai", output_dtype=np.uint8, separate_folder=False)
        writer(mt.utils.convert_to_dst_type(labels, restored)[0])
        seconds["write"] = time.perf_counter() - start
        return labels

    _, first_s = _timed(run, {})
    runs: list[dict] = [{} for _ in range(repeats)]
    for seconds in runs:
        labels = run(seconds)
    return {
        "framework": "monai",
        "blending": "device",
        "tta": tta,
        "folds": len(networks),
        "first_case_s": first_s,
        "stages_s": _fastest(runs),
        "predict_s": min(sum(seconds.values()) for seconds in runs),
        "cropped_shape": None,
        "tumour_voxels": int((labels > 0).sum()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--roi", type=int, default=128, help="window edge (default 128)")
    parser.add_argument("--folds", type=int, default=1, help="networks averaged (default 1)")
    parser.add_argument(
        "--tta", choices=("off", "on", "both"), default="off", help="flip TTA (default off)"
    )
    parser.add_argument(
        "--blending",
        choices=("auto", "numpy", "device", "both"),
        default="auto",
        help="where windows are blended; both: numpy and device (default auto)",
    )
    parser.add_argument(
        "--features", type=int, nargs=2, metavar=("BASE", "MAX"), help="smaller networks"
    )
    parser.add_argument("--precision", default="float32", help="float32, mixed_bfloat16, …")
    parser.add_argument("--compare", choices=("monai",), help="also run the same work with MONAI")
    parser.add_argument(
        "--repeats", type=int, default=3, help="timed runs after the first; fastest kept (3)"
    )
    parser.add_argument(
        "--cases",
        type=int,
        default=1,
        help="cases in the whole-case run, its time per case (default 1)",
    )
    parser.add_argument("--quick", action="store_true", help="a tiny configuration for CI")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.cases < 1 or args.folds < 1:
        parser.error("--repeats, --cases and --folds must be at least 1")
    shape = (240, 240, 155)
    overrides: dict = {}
    if args.features:
        overrides = {"base_features": args.features[0], "max_features": args.features[1]}
    if args.quick:
        shape, args.roi, args.repeats = QUICK_SHAPE, 32, 1
        overrides = {"base_features": 4, "max_features": 16, "num_stages": 3, "strides": [1, 2, 2]}

    keras.config.set_dtype_policy(args.precision)
    keras.utils.set_random_seed(0)
    configs = [
        NETWORKS.create("nnunet_3d", input_size=None, **overrides) for _ in range(args.folds)
    ]
    models = [config.build() for config in configs]
    runs = {"off": [False], "on": [True], "both": [False, True]}[args.tta]
    blendings = ["numpy", "device"] if args.blending == "both" else [args.blending]
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        write_synthetic_brats(work / "cases", args.cases, shape=shape, progress=False)
        records = find_cases(work / "cases", require_labels=False)
        record = records[0]
        results = [
            measure(models, records, args.roi, tta, blending, work, args.repeats)
            for blending in blendings
            for tta in runs
        ]
        skipped = skip_reason(args.compare)
        if args.compare == "monai" and not skipped:
            del models
            gc.collect()
            results += [
                measure_monai(configs, record, args.roi, tta, args.precision, work, args.repeats)
                for tta in runs
            ]
    monai = {r["tta"]: r for r in results if r["framework"] == "monai"}
    for result in results:
        other = monai.get(result["tta"])
        if result["framework"] == "unetseg" and other is not None:
            result["speedup_vs_monai"] = other["predict_s"] / result["predict_s"]

    gpu = accelerator_name()
    info = stamp("case_latency", devices=True, quick=args.quick, accelerator=gpu)
    info["monai"] = skipped or ("compared" if args.compare else "not run")
    features = "-" + "_".join(map(str, args.features)) if args.features else ""
    name = (
        f"case_latency-{'quick-' if args.quick else ''}nnunet_3d{features}-{args.folds}fold-"
        f"{f'{args.cases}cases-' if args.cases > 1 else ''}"
        f"{info['backend']}-{args.precision}-{gpu or 'cpu'}-{info['date'][:10]}"
    ).replace(" ", "_")
    headers = ["framework", "blending", "TTA", "folds", "first case (s)"]
    headers += [f"{stage} (s)" for stage in STAGES] + ["whole case (s)", "MONAI time / ours"]
    rows = [
        [
            r["framework"],
            r["blending"] + (", labels decoded there" if r.get("labels_on_device") else ""),
            "flips" if r["tta"] else "none",
            r["folds"],
            f"{r['first_case_s']:.2f}",
            *(f"{r['stages_s'][stage]:.2f}" for stage in STAGES),
            f"{r['predict_s']:.2f}",
            f"{r['speedup_vs_monai']:.2f}" if "speedup_vs_monai" in r else "–",
        ]
        for r in results
    ]
    table = (
        f"# Whole-case latency — {info['date']}\n\nMachine: {info['machine']}; accelerator "
        f"{gpu or 'none (CPU)'}; backend {info['backend']}, {args.precision}; one "
        f"{'×'.join(map(str, shape))}×4 case; nnunet_3d{features} × {args.folds}, "
        f"{args.roi}³ windows; Keras {info['packages']['keras']}; unetseg {info['unetseg']}, "
        f"MONAI {info['packages']['monai']}. Whole case: unetseg's `Predictor.predict` "
        "(NIfTI in, NIfTI and manifest out); MONAI's, the sum of its stages. The fastest "
        f"of {args.repeats} runs after a first (compiling) one; the whole case is "
        f"`Predictor.predict` of {args.cases} case(s), per case.\n\n"
        + markdown_table(headers, rows)
    )
    if skipped:
        table += f"\n{skipped}\n"
    record_out = {
        **info,
        "image_shape": [*shape, 4],
        "roi": args.roi,
        "folds": args.folds,
        "features": args.features,
        "precision": args.precision,
        "repeats": args.repeats,
        "cases": args.cases,
        "results": results,
    }
    save(args.output, name, record_out, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
