"""Benchmark: where a U-Net training step's time goes, per layer kind, on every backend.

``train_throughput`` says how fast a whole step is; this script says which layers
make it slow. For each network the recipes train (``quick``: 8–64 features at 32³;
``lowres``: 16–128 at 48³; ``nnunet_3d`` at 64³; ``2d``: the 2D nnU-Net design at
192 × 160, batch 8) it times each kind of layer alone, at the shapes of the
network's first two stages:

- ``conv``: 3×3(×3) convolution, ``C → C`` (2D:
  :class:`~unetseg.networks.MatmulGradientConv2D`, what the builder uses);
- ``strided conv``: 3×3(×3) convolution, stride 2, ``C → 2C`` (the encoder's
  downsampling);
- ``transposed conv``: the decoder's 2×2(×2) upsampling ``2C → C``
  (:class:`~unetseg.networks.NonOverlappingConv3DTranspose`, what the builder uses);
- ``instance norm``: the ``"instance"`` entry of :data:`~unetseg.networks.NORMS`;
- ``leaky relu``;
- ``head + loss``: the 1×1 convolution to 3 channels and the recipes' Dice + cross
  entropy.

Each layer is a one-layer Keras model; ``forward`` is ``predict_on_batch`` and
``train`` is ``train_on_batch`` with plain SGD (forward, backward and the update),
both compiled by the backend, median of ``--repeats`` calls after two warm-up calls.
``backward`` is their difference. Each backend runs in a process of its own with
the environment of this one (so ``TF_ENABLE_ONEDNN_OPTS``, ``XLA_FLAGS`` and thread
settings apply; the record keeps them).

    python benchmarks/layer_times.py                       # every installed backend
    python benchmarks/layer_times.py --networks quick --backends tensorflow,torch
    python benchmarks/layer_times.py --quick               # tiny shapes, for CI

Results go to ``benchmarks/results/``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from _common import (
    RESULTS,
    accelerator_name,
    keras_backends,
    markdown_table,
    median_seconds,
    save,
    stamp,
)

#: network -> (spatial size, batch, features of the first two stages)
NETWORKS: dict[str, tuple[tuple[int, ...], int, tuple[int, int]]] = {
    "quick": ((32, 32, 32), 2, (8, 16)),
    "lowres": ((48, 48, 48), 2, (16, 32)),
    "nnunet_3d": ((64, 64, 64), 2, (32, 64)),
    "2d": ((192, 160), 8, (32, 64)),
}
QUICK_NETWORKS = {"quick": ((16, 16, 16), 1, (4, 8)), "2d": ((32, 32), 2, (4, 8))}
KINDS = ("conv", "strided conv", "transposed conv", "instance norm", "leaky relu", "head + loss")


def layer_model(kind: str, size: tuple[int, ...], channels: int) -> tuple[Any, Any]:
    """(a compiled one-layer model, its input shape without the batch) for ``kind``."""
    import keras

    from unetseg.losses import DiceCE
    from unetseg.networks import create_norm
    from unetseg.networks.upsampling import (
        NonOverlappingConv2DTranspose,
        NonOverlappingConv3DTranspose,
    )

    dims = len(size)
    from unetseg.networks.convolution import MatmulGradientConv2D

    conv = keras.layers.Conv3D if dims == 3 else MatmulGradientConv2D
    shape = (*size, channels)
    loss: Any = "mean_squared_error"
    if kind == "conv":
        layer = conv(channels, 3, padding="same")
    elif kind == "strided conv":
        layer = conv(2 * channels, 3, strides=2, padding="same")
    elif kind == "transposed conv":
        transpose = NonOverlappingConv3DTranspose if dims == 3 else NonOverlappingConv2DTranspose
        layer = transpose(channels, 2, strides=2)
        shape = (*(s // 2 for s in size), 2 * channels)
    elif kind == "instance norm":
        layer = create_norm("instance")
    elif kind == "leaky relu":
        layer = keras.layers.LeakyReLU(negative_slope=0.01)
    elif kind == "head + loss":
        layer = conv(3, 1)
        loss = DiceCE(activation="sigmoid", batch=True)
    else:
        raise ValueError(f"unknown layer kind {kind!r}")
    model = keras.Sequential([keras.Input(shape), layer])
    model.compile(optimizer=keras.optimizers.SGD(1e-3), loss=loss)
    return model, shape


def measure(
    network: str, spec: tuple, repeats: int, kinds: tuple[str, ...] = KINDS
) -> list[dict[str, Any]]:
    """Each of ``kinds`` at the first two stages of ``network`` on the active backend."""
    import numpy as np

    size, batch, features = spec
    rng = np.random.default_rng(0)
    rows = []
    for stage, channels in enumerate(features):
        stage_size = tuple(s // 2**stage for s in size)
        for kind in kinds:
            model, shape = layer_model(kind, stage_size, channels)
            x = rng.normal(size=(batch, *shape)).astype("float32")
            out_shape = model.compute_output_shape((batch, *shape))
            y = (rng.random(out_shape) > 0.9).astype("float32")
            forward = median_seconds(lambda m=model, x=x: m.predict_on_batch(x), repeats, warmup=2)
            train = median_seconds(
                lambda m=model, x=x, y=y: m.train_on_batch(x, y), repeats, warmup=2
            )
            rows.append(
                {
                    "network": network,
                    "stage": stage,
                    "kind": kind,
                    "input": [batch, *shape],
                    "forward_s": forward,
                    "train_s": train,
                    "backward_s": max(train - forward, 0.0),
                }
            )
            print(
                f"  {network} stage {stage} {kind}: forward {forward * 1000:.1f} ms, "
                f"train {train * 1000:.1f} ms",
                file=sys.stderr,
                flush=True,
            )
    return rows


def run_backend(args: argparse.Namespace, backend: str, networks: dict) -> list[dict]:
    """Measure on ``backend`` in a process of its own; an error becomes a row."""
    with tempfile.TemporaryDirectory() as tmp:
        output = Path(tmp) / "rows.json"
        command = [sys.executable, __file__, "--child-output", str(output)]
        command += ["--networks", ",".join(networks), "--repeats", str(args.repeats)]
        command += ["--kinds", ",".join(args.kinds)]
        command += ["--quick"] if args.quick else []
        print(f"· {backend} …", flush=True)
        done = subprocess.run(
            command, env={**os.environ, "KERAS_BACKEND": backend}, timeout=args.timeout
        )
        if done.returncode != 0:
            return [{"backend": backend, "error": f"exit code {done.returncode}"}]
        return [{"backend": backend, **row} for row in json.loads(output.read_text())]


def table(rows: list[dict]) -> str:
    backends = sorted({r["backend"] for r in rows if "error" not in r}, key=keras_order)
    headers = ["network", "stage", "input", "layer"]
    headers += [f"{b} fwd / bwd (ms)" for b in backends]
    cells: dict[tuple, dict[str, dict]] = {}
    for row in rows:
        if "error" not in row:
            key = (row["network"], row["stage"], "×".join(map(str, row["input"])), row["kind"])
            cells.setdefault(key, {})[row["backend"]] = row
    lines = []
    for key, by_backend in cells.items():
        values = []
        for backend in backends:
            row = by_backend.get(backend)
            values.append(
                "–"
                if row is None
                else f"{row['forward_s'] * 1000:.1f} / {row['backward_s'] * 1000:.1f}"
            )
        lines.append([*key, *values])
    text = markdown_table(headers, lines)
    errors = [f"{r['backend']}: {r['error']}" for r in rows if "error" in r]
    return text + "".join(f"\nFailed: {e}\n" for e in errors)


def keras_order(backend: str) -> int:
    return ("tensorflow", "jax", "torch").index(backend)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--networks", default=None, help=f"any of {', '.join(NETWORKS)}")
    parser.add_argument("--backends", default="installed", help="comma-separated (default: all)")
    parser.add_argument("--kinds", default=",".join(KINDS), help="layer kinds (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="timed calls (default 3)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per backend")
    parser.add_argument("--quick", action="store_true", help="tiny shapes, for CI")
    parser.add_argument("--label", default="", help="added to the result's name")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--child-output", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    known = QUICK_NETWORKS if args.quick else NETWORKS
    names = args.networks.split(",") if args.networks else list(known)
    unknown = [n for n in names if n not in known]
    args.kinds = tuple(args.kinds.split(","))
    unknown += [kind for kind in args.kinds if kind not in KINDS]
    if unknown:
        parser.error(
            f"unknown {', '.join(unknown)}; networks: {', '.join(known)}; kinds: {', '.join(KINDS)}"
        )
    networks = {name: known[name] for name in names}
    if args.child_output:
        rows = [
            row
            for name, spec in networks.items()
            for row in measure(name, spec, args.repeats, args.kinds)
        ]
        args.child_output.write_text(json.dumps(rows))
        return 0

    backends = keras_backends() if args.backends == "installed" else args.backends.split(",")
    rows = [row for backend in backends for row in run_backend(args, backend, networks)]
    gpu = accelerator_name()
    info = stamp("layer_times", quick=args.quick, accelerator=gpu, backend=backends)
    settings = info["settings"]
    label = f"-{args.label}" if args.label else ""
    name = (
        f"layer_times-{'quick-' if args.quick else ''}{'_'.join(networks)}-"
        f"{'_'.join(backends)}-{gpu or 'cpu'}-{info['date'][:10]}{label}"
    ).replace(" ", "_")
    text = (
        f"# Layer times — {info['date']}\n\nMachine: {info['machine']}; accelerator "
        f"{gpu or 'none (CPU)'}; Keras {info['packages']['keras']}, TensorFlow "
        f"{info['packages']['tensorflow']}, JAX {info['packages']['jax']}, PyTorch "
        f"{info['packages']['torch']}; settings {settings or 'defaults'}. float32; one layer "
        f"alone, compiled; median of {args.repeats} calls; forward = predict_on_batch, "
        "backward = train_on_batch (SGD) − forward.\n\n" + table(rows)
    )
    save(args.output, name, {**info, "results": rows}, text)
    return 1 if all("error" in row for row in rows) else 0


if __name__ == "__main__":
    raise SystemExit(main())
