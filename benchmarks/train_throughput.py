"""Benchmark: training throughput of U-Nets on every installed Keras backend, beside MONAI.

Two models, each trained on random data already on the host (the step alone: no
data loading):

- ``3d``: the ``nnunet_3d`` preset, 128³ × 4 patches, batch 2 (nnU-Net's BraTS plan);
- ``2d``: the same design in 2D (six stages of 32–512 features), 192 × 160 × 4
  slices, batch 128 on a GPU and 8 on a CPU (nnU-Net's 2D BraTS plan);
- ``quick`` and ``lowres``: the networks of the CPU recipes of those names (8–64
  features at 32³, 16–128 at 48³), read from their TOML files, batch 2.

Each (model, backend, precision) runs in a process of its own, so peak device
memory is that configuration's. The step is nnU-Net's: Dice + binary cross-entropy
on every deep-supervision head (weights 1/2^i), SGD with Nesterov momentum 0.99. A
step's FLOPs are counted from the layers (3 × the forward pass); model FLOPs
utilisation (MFU) divides the achieved rate by the GPU's dense peak for the
precision (TF32 for float32), from ``_common.PEAK_TFLOPS``.

``--compare monai`` trains MONAI's ``DynUNet`` with the same stages and filters, the
same loss and optimiser in PyTorch on the same device, in the same run, and prints
the ratio of patches per second unetseg/MONAI. The two networks start from
different random weights, so their values are not compared.

    python benchmarks/train_throughput.py --models 3d --precisions float32
    python benchmarks/train_throughput.py --backends jax --compare monai   # on a GPU

``--quick`` runs tiny models for CI. Results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

from _common import (
    RESULTS,
    accelerator_name,
    keras_backends,
    markdown_table,
    peak_memory,
    peak_tflops,
    reset_peak_memory,
    save,
    stamp,
)
from _monai import skip_reason

PRECISIONS = ("float32", "mixed_bfloat16", "mixed_float16")


#: The CPU recipes whose networks ``--models`` can name, at their training patch size.
RECIPES = Path(__file__).resolve().parents[1] / "examples" / "brats2020" / "configs"
RECIPE_MODELS = {"quick": "quick", "lowres": "3d_lowres"}


def model_config(model: str, quick: bool, size_3d: int = 128) -> Any:
    """The :class:`~unetseg.networks.UNetConfig` of ``model``.

    ``"3d"`` and ``"2d"`` are the nnU-Net designs; ``"quick"`` and ``"lowres"`` the
    networks of those recipes, read from their TOML files, at their patch size.
    """
    from unetseg.networks import NETWORKS

    if model in RECIPE_MODELS:
        from unetseg.recipes import load_config

        recipe = load_config(RECIPES / f"{RECIPE_MODELS[model]}.toml")
        size = (16, 16, 16) if quick else recipe.train.patch_size
        return dataclasses.replace(recipe.network, input_size=list(size))
    if model == "3d":
        size = (32, 32, 32) if quick else (size_3d,) * 3
        overrides = {"input_size": size}
    else:
        size = (48, 40) if quick else (192, 160)
        overrides = {"spatial_dims": 2, "input_size": size, "max_features": 512}
    if quick:
        overrides.update(base_features=4, max_features=16, num_stages=4, strides=[1, 2, 2, 2])
    return NETWORKS.create("nnunet_3d", **overrides)


def _random_batch(config: Any, batch: int) -> tuple[Any, Any]:
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, *config.input_size, config.in_channels)).astype("float32")
    y = (rng.random((batch, *config.input_size, config.out_channels)) > 0.9).astype("float32")
    return x, y


def _timed(step: Any, steps: int, synchronize: Any = lambda: None) -> dict[str, float]:
    """Time the first call, two warm-up calls, then ``steps`` calls; medians in seconds."""
    start = time.perf_counter()
    step()
    synchronize()
    first = time.perf_counter() - start
    for _ in range(2):
        step()
    synchronize()
    times = []
    for _ in range(steps):
        start = time.perf_counter()
        step()
        synchronize()
        times.append(time.perf_counter() - start)
    return {"first_step_s": first, "step_s": statistics.median(times)}


def measure_unetseg(config: Any, batch: int, precision: str, steps: int) -> dict:
    """One training step of the unetseg model on the active Keras backend."""
    import keras

    from unetseg.losses import DeepSupervision, DiceCE
    from unetseg.networks import count_flops

    backend = keras.backend.backend()
    keras.config.set_dtype_policy(precision)
    keras.utils.set_random_seed(0)
    network = config.build()
    outputs = len(network.outputs)
    network.compile(
        optimizer=keras.optimizers.SGD(1e-2, momentum=0.99, nesterov=True),
        **DeepSupervision(DiceCE(activation="sigmoid")).compile_arguments(outputs),
    )
    x, y = _random_batch(config, batch)
    reset_peak_memory(backend)
    timing = _timed(lambda: network.train_on_batch(x, (y,) * outputs), steps)
    return {
        **timing,
        "parameters": network.count_params(),
        "training_step_flop": count_flops(network, batch_size=batch)["training_step"],
        "peak_memory": peak_memory(backend),
    }


def measure_monai(config: Any, batch: int, precision: str, steps: int) -> dict:
    """The same step with MONAI's DynUNet in PyTorch (channels first)."""
    import torch
    from _monai import autocast, dynunet, synchronize, torch_device
    from monai.losses import DiceLoss

    from unetseg.losses import deep_supervision_weights

    torch.manual_seed(0)
    torch.backends.cudnn.benchmark = True
    device = torch_device()
    network = dynunet(config).to(device).train()
    optimizer = torch.optim.SGD(network.parameters(), 1e-2, momentum=0.99, nesterov=True)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "mixed_float16")
    dice = DiceLoss(sigmoid=True, smooth_nr=1e-5, smooth_dr=1e-5)
    bce = torch.nn.BCEWithLogitsLoss()
    x, y = _random_batch(config, batch)
    channels_first = (0, x.ndim - 1, *range(1, x.ndim - 1))
    x = torch.from_numpy(x.transpose(channels_first).copy()).to(device)
    y = torch.from_numpy(y.transpose(channels_first).copy()).to(device)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        with autocast(precision, device):
            output = network(x)
            # with deep supervision, the heads upsampled to full size and stacked on axis 1
            heads = torch.unbind(output, dim=1) if config.deep_supervision else (output,)
            weights = deep_supervision_weights(len(heads))
            loss = sum(w * (dice(h, y) + bce(h, y)) for w, h in zip(weights, heads, strict=True))
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    timing = _timed(step, steps, lambda: synchronize(device))
    return {
        **timing,
        "parameters": sum(p.numel() for p in network.parameters()),
        "peak_memory": peak_memory("torch") if device.type == "cuda" else peak_memory("cpu"),
    }


def child(args: argparse.Namespace) -> int:
    """Measure one configuration and write it as JSON (run in a process of its own)."""
    measure = measure_monai if args.child == "monai" else measure_unetseg
    config = model_config(args.models[0], args.quick, args.size_3d)
    result = measure(config, args.batch, args.precisions[0], args.steps)
    args.child_output.write_text(json.dumps(result))
    return 0


def run_child(
    args: argparse.Namespace, framework: str, model: str, batch: int, precision: str
) -> dict:
    """Run one configuration in a subprocess; the row records an error instead of failing."""
    row: dict[str, Any] = {
        "model": model,
        "framework": framework,
        "batch": batch,
        "precision": precision,
    }
    backend = "torch" if framework == "monai" else framework
    row["backend"] = backend  # the child's, not this process's
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "result.json"
        kind = "monai" if framework == "monai" else "unetseg"
        command = [sys.executable, __file__, "--child", kind, "--size-3d", str(args.size_3d)]
        command += ["--models", model, "--batch", str(batch), "--precisions", precision]
        command += ["--steps", str(args.steps), "--child-output", str(output)]
        command += ["--quick"] if args.quick else []
        print(f"· {model} {framework} {precision} batch {batch} …", flush=True)
        try:
            done = subprocess.run(
                command,
                env={**os.environ, "KERAS_BACKEND": backend},
                capture_output=True,
                text=True,
                timeout=args.timeout,
            )
        except subprocess.TimeoutExpired:
            return {**row, "error": f"timed out after {args.timeout} s"}
        if done.returncode != 0:
            lines = [line for line in done.stderr.strip().splitlines() if line.strip()]
            return {**row, "error": lines[-1] if lines else f"exit code {done.returncode}"}
        row.update(json.loads(output.read_text()))
    return row


def add_rates(row: dict, gpu: str | None) -> None:
    """Steps, patches and voxels per second, achieved TFLOP/s and MFU of a finished row."""
    step = row["step_s"]
    row["steps_per_s"] = 1 / step
    row["patches_per_s"] = row["batch"] / step
    row["voxels_per_s"] = row["batch"] * row["voxels_per_patch"] / step
    flop = row.get("training_step_flop")
    if flop:
        row["achieved_tflops"] = flop / step / 1e12
        peak = peak_tflops(gpu, row["precision"])
        row["mfu"] = row["achieved_tflops"] / peak if peak else None


def compare(rows: list[dict], gpu: str | None) -> None:
    """Give each unetseg row the ratio of its patches/s to MONAI's for the same work."""
    monai = {
        (r["model"], r["precision"]): r for r in rows if r["framework"] == "monai" and "step_s" in r
    }
    for row in rows:
        if row["framework"] == "monai" or "step_s" not in row:
            continue
        other = monai.get((row["model"], row["precision"]))
        if other is not None:
            row["vs_monai"] = row["patches_per_s"] / other["patches_per_s"]
            if "training_step_flop" not in other:  # the same network, counted once
                other["training_step_flop"] = row["training_step_flop"]
                add_rates(other, gpu)


def table_rows(rows: list[dict]) -> list[list[str]]:
    def number(row: dict, key: str, fmt: str) -> str:
        value = row.get(key)
        return "–" if value is None else format(value, fmt)

    lines = []
    for row in rows:
        start = [row["model"], row["framework"], row["precision"], row["batch"]]
        if "error" in row:
            lines.append([*start, f"failed: {row['error'][:120]}", *["–"] * 8])
            continue
        memory = f"{row['peak_memory']['mib']:.0f} ({row['peak_memory']['where']})"
        mfu = row.get("mfu")
        lines.append(
            [
                *start,
                f"{row['step_s'] * 1000:.1f}",
                number(row, "steps_per_s", ".2f"),
                number(row, "patches_per_s", ".2f"),
                f"{row['voxels_per_s'] / 1e6:.3g}",
                number(row, "achieved_tflops", ".3g"),
                "–" if mfu is None else f"{100 * mfu:.1f} %",
                memory,
                number(row, "vs_monai", ".2f"),
                f"{row['first_step_s']:.1f}",
            ]
        )
    return lines


HEADERS = [
    "model",
    "framework",
    "precision",
    "batch",
    "step (ms)",
    "steps/s",
    "patches/s",
    "Mvoxels/s",
    "TFLOP/s",
    "MFU",
    "peak memory (MiB)",
    "× MONAI",
    "first step (s)",
]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", default="3d,2d", help="any of 3d, 2d, quick, lowres (default 3d,2d)"
    )
    parser.add_argument(
        "--backends", default="installed", help="Keras backends, comma-separated (default: all)"
    )
    parser.add_argument(
        "--precisions", default="float32,mixed_bfloat16", help=f"any of {', '.join(PRECISIONS)}"
    )
    parser.add_argument("--size-3d", type=int, default=128, help="3D patch edge (default 128)")
    parser.add_argument("--batch-3d", type=int, default=2, help="3D batch size (default 2)")
    parser.add_argument("--batch-2d", type=int, default=None, help="2D batch (128 GPU, 8 CPU)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps (default 10, 3 CPU)")
    parser.add_argument("--compare", choices=("monai",), help="also run MONAI's DynUNet")
    parser.add_argument("--timeout", type=int, default=1200, help="seconds per configuration")
    parser.add_argument("--quick", action="store_true", help="tiny models, for CI")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--child", choices=("unetseg", "monai"), help=argparse.SUPPRESS)
    parser.add_argument("--child-output", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--batch", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.models = args.models.split(",")
    args.precisions = args.precisions.split(",")
    if args.child:
        return child(args)

    gpu = accelerator_name()
    if args.steps is None:
        args.steps = 10 if gpu else 3
    if args.quick:
        args.steps, args.batch_2d = 1, args.batch_2d or 2
    batches = {"3d": args.batch_3d, "2d": args.batch_2d or (128 if gpu else 8)}
    batches.update(dict.fromkeys(RECIPE_MODELS, 2))  # the recipes' batch size
    unknown = [m for m in args.models if m not in batches]
    unknown += [p for p in args.precisions if p not in PRECISIONS]
    backends = keras_backends() if args.backends == "installed" else args.backends.split(",")
    if unknown:
        parser.error(f"unknown model or precision: {', '.join(unknown)}")
    frameworks = list(backends)
    skipped = skip_reason(args.compare)
    if args.compare == "monai" and not skipped:
        frameworks.append("monai")

    rows, inputs = [], []
    for model in args.models:
        config = model_config(model, args.quick, args.size_3d)
        inputs.append(f"{model} {'×'.join(map(str, (*config.input_size, config.in_channels)))}")
        for precision in args.precisions:
            for framework in frameworks:
                row = run_child(args, framework, model, batches[model], precision)
                row["voxels_per_patch"] = math.prod(config.input_size)
                if "step_s" in row:
                    add_rates(row, gpu)
                rows.append(row)
    compare(rows, gpu)

    # Each configuration ran in a child process on its own backend: the stamp lists
    # those, not the backend this parent process imported Keras with.
    children = sorted({row["backend"] for row in rows})
    info = stamp(
        "train_throughput", quick=args.quick, accelerator=gpu, steps=args.steps, backend=children
    )
    info["monai"] = skipped or "compared"
    name = (
        f"train_throughput-{'quick-' if args.quick else ''}{'_'.join(args.models)}-"
        f"{'_'.join(frameworks)}-{gpu or 'cpu'}-{info['date'][:10]}"
    ).replace(" ", "_")
    table = (
        f"# Training throughput — {info['date']}\n\nMachine: {info['machine']}; accelerator "
        f"{gpu or 'none (CPU)'}; Keras {info['packages']['keras']}, JAX "
        f"{info['packages']['jax']}, TensorFlow {info['packages']['tensorflow']}, PyTorch "
        f"{info['packages']['torch']}, MONAI {info['packages'].get('monai')}; unetseg "
        f"{info['unetseg']}; settings {info['settings'] or 'defaults'}. Inputs: "
        f"{', '.join(inputs)}. Median of {args.steps} steps after 3 "
        "untimed; first step = tracing and compilation. MFU against the dense peak for the "
        "precision (TF32 for float32); × MONAI = patches/s over MONAI's DynUNet."
        "\n\n" + markdown_table(HEADERS, table_rows(rows))
    )
    if skipped:
        table += f"\n{skipped}\n"
    save(args.output, name, {**info, "results": rows}, table)
    failed = [row for row in rows if "error" in row]
    return 1 if failed and len(failed) == len(rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
