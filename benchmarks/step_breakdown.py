"""Benchmark: where a 3D training step's time goes, on Keras' JAX backend.

``train_throughput`` says how fast the ``nnunet_3d`` step is; this script says why,
by timing its parts and variants in one process (JAX only; run it on the GPU):

1. ``transfer``: one 128³ × 4 batch from NumPy to the device and a 128³ × 3
   output back (what ``train_on_batch`` and ``predict_on_batch`` pay per call when
   handed NumPy arrays);
2. ``model``: the whole training step with the data already on the device or
   handed over as NumPy, and with the norm swapped (instance / direct instance /
   none), plus the forward pass alone;
3. ``ops``: each kind of layer of the network alone — 3×3×3 convolution (channels
   last and channels first), strided convolution, 2×2×2 transposed convolution
   (Keras' and ours, the matrix product the U-Net builder uses),
   Keras' ``GroupNormalization(groups=-1)`` (our ``"instance"`` norm), a direct
   instance norm, leaky ReLU — forward, and forward + backward, at the first two
   stages' shapes, in float32 and bfloat16.

``--trace DIR`` also writes a JAX profiler trace of three steps of the first model
variant. Results go to ``benchmarks/results/`` as JSON and Markdown.

    KERAS_BACKEND=jax python benchmarks/step_breakdown.py
    KERAS_BACKEND=jax python benchmarks/step_breakdown.py --quick   # CPU-sized
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("KERAS_BACKEND", "jax")
os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import keras
from _common import RESULTS, accelerator_name, markdown_table, save, stamp

VARIANTS = {
    "bf16 instance": ("mixed_bfloat16", "instance"),
    "float32 instance": ("float32", "instance"),
    "bf16 no norm": ("mixed_bfloat16", "none"),
    "bf16 direct instance": ("mixed_bfloat16", "instance_direct"),
    "float32 direct instance": ("float32", "instance_direct"),
}


def median_time(function: Callable[[], Any], repeats: int) -> tuple[float, float]:
    """(first call, median of ``repeats`` later calls) in seconds; waits for the device."""
    import jax

    start = time.perf_counter()
    jax.block_until_ready(function())
    first = time.perf_counter() - start
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        jax.block_until_ready(function())
        times.append(time.perf_counter() - start)
    return first, statistics.median(times)


class DirectInstanceNorm(keras.layers.Layer):
    """Instance norm as one reduction over the spatial axes, in float32."""

    def __init__(self, epsilon: float = 1e-5, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.epsilon = epsilon

    def build(self, input_shape: tuple) -> None:
        channels = input_shape[-1]
        self.gamma = self.add_weight(shape=(channels,), initializer="ones", name="gamma")
        self.beta = self.add_weight(shape=(channels,), initializer="zeros", name="beta")

    def call(self, inputs: Any) -> Any:
        ops = keras.ops
        x = ops.cast(inputs, "float32")
        axes = list(range(1, len(inputs.shape) - 1))
        mean = ops.mean(x, axis=axes, keepdims=True)
        variance = ops.mean(ops.square(x - mean), axis=axes, keepdims=True)
        scale = ops.rsqrt(variance + self.epsilon) * ops.cast(self.gamma, "float32")
        return ops.cast((x - mean) * scale + ops.cast(self.beta, "float32"), self.compute_dtype)


def register_direct_norm() -> None:
    from unetseg.networks import NORMS

    if "instance_direct" not in NORMS:
        NORMS.register("instance_direct")(DirectInstanceNorm)


def time_transfer(size: int, batch: int, repeats: int) -> list[dict]:
    import jax
    import numpy as np

    x = np.random.default_rng(0).normal(size=(batch, size, size, size, 4)).astype("float32")
    y = jax.device_put(np.zeros((batch, size, size, size, 3), "float32"))
    fresh = jax.jit(lambda a: a + 1)  # a new array each time: JAX caches a host copy
    _, put = median_time(lambda: jax.device_put(x), repeats)
    _, get = median_time(lambda: np.asarray(fresh(y)), repeats)
    rows = []
    for what, seconds, nbytes in (("to device", put, x.nbytes), ("to host", get, y.nbytes)):
        rows.append(
            {"what": what, "mib": nbytes / 2**20, "s": seconds, "gb_s": nbytes / seconds / 1e9}
        )
    return rows


def op_layers(size: int, channels: int) -> dict[str, tuple[Callable[[], Any], tuple]]:
    """Layer factories and the input shape (without batch) of each timed op."""
    from unetseg.networks import NonOverlappingConv3DTranspose

    layers = keras.layers
    cube = (size,) * 3
    half = (size // 2,) * 3
    return {
        "conv 3³ (channels last)": (
            lambda: layers.Conv3D(channels, 3, padding="same"),
            (*cube, channels),
        ),
        "conv 3³ (channels first)": (
            lambda: layers.Conv3D(channels, 3, padding="same", data_format="channels_first"),
            (channels, *cube),
        ),
        "conv 3³ stride 2": (
            lambda: layers.Conv3D(2 * channels, 3, strides=2, padding="same"),
            (*cube, channels),
        ),
        "transposed conv 2³ (Keras)": (
            lambda: layers.Conv3DTranspose(channels, 2, strides=2),
            (*half, 2 * channels),
        ),
        "transposed conv 2³ (matrix product)": (
            lambda: NonOverlappingConv3DTranspose(channels, 2, strides=2),
            (*half, 2 * channels),
        ),
        "GroupNormalization(-1)": (
            lambda: layers.GroupNormalization(groups=-1, epsilon=1e-5),
            (*cube, channels),
        ),
        "direct instance norm": (lambda: DirectInstanceNorm(), (*cube, channels)),
        "leaky ReLU": (lambda: layers.LeakyReLU(0.01), (*cube, channels)),
    }


def time_op(factory: Callable[[], Any], shape: tuple, batch: int, dtype: str, repeats: int) -> dict:
    import jax
    import jax.numpy as jnp

    keras.config.set_dtype_policy("float32" if dtype == "float32" else "mixed_bfloat16")
    layer = factory()
    layer.build((batch, *shape))
    trainable = [v.value for v in layer.trainable_variables]
    x = jnp.asarray(jax.random.normal(jax.random.key(0), (batch, *shape)), dtype)

    def forward(weights: list, inputs: Any) -> Any:
        # Called as a layer (not stateless_call), so Keras autocasts the weights to
        # the compute dtype as it does in a model.
        with keras.StatelessScope(
            state_mapping=list(zip(layer.trainable_variables, weights, strict=True))
        ):
            return layer(inputs)

    def loss(weights: list, inputs: Any) -> Any:
        return jnp.sum(forward(weights, inputs).astype("float32"))

    fwd = jax.jit(forward)
    both = jax.jit(jax.grad(loss, argnums=(0, 1)))
    _, forward_s = median_time(lambda: fwd(trainable, x), repeats)
    _, both_s = median_time(lambda: both(trainable, x), repeats)
    return {"forward_ms": forward_s * 1e3, "forward_backward_ms": both_s * 1e3}


def time_model(variant: str, size: int, batch: int, repeats: int, trace: Path | None) -> dict:
    import jax
    import numpy as np

    from unetseg.losses import DeepSupervision, DiceCE
    from unetseg.networks import NETWORKS

    precision, norm = VARIANTS[variant]
    keras.config.set_dtype_policy(precision)
    keras.utils.set_random_seed(0)
    overrides: dict[str, Any] = {"input_size": (size,) * 3, "norm": norm}
    if size < 64:
        overrides.update(base_features=8, max_features=32, num_stages=4, strides=[1, 2, 2, 2])
    network = NETWORKS.create("nnunet_3d", **overrides).build()
    heads = len(network.outputs)
    network.compile(
        optimizer=keras.optimizers.SGD(1e-2, momentum=0.99, nesterov=True),
        **DeepSupervision(DiceCE(activation="sigmoid")).compile_arguments(heads),
    )
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batch, size, size, size, 4)).astype("float32")
    y = (rng.random((batch, size, size, size, 3)) > 0.9).astype("float32")
    x_device, y_device = jax.device_put(x), jax.device_put(y)
    row: dict[str, Any] = {"variant": variant}
    first, step = median_time(
        lambda: network.train_on_batch(x_device, (y_device,) * heads), repeats
    )
    row.update(first_step_s=first, step_device_ms=step * 1e3)
    if variant == "float32 instance" or variant == "bf16 instance":
        _, numpy_step = median_time(lambda: network.train_on_batch(x, (y,) * heads), repeats)
        row["step_numpy_ms"] = numpy_step * 1e3
    first_head = keras.Model(network.inputs, network.outputs[0])
    forward = jax.jit(lambda weights, inputs: first_head.stateless_call(weights, [], inputs)[0])
    if not first_head.non_trainable_variables:
        weights = [v.value for v in first_head.trainable_variables]
        _, forward_s = median_time(lambda: forward(weights, x_device), repeats)
        row["forward_ms"] = forward_s * 1e3
    _, predict_s = median_time(lambda: first_head.predict_on_batch(x), repeats)
    row["predict_on_batch_numpy_ms"] = predict_s * 1e3
    if trace is not None:
        jax.block_until_ready(network.train_on_batch(x_device, (y_device,) * heads))
        with jax.profiler.trace(str(trace)):
            for _ in range(3):
                jax.block_until_ready(network.train_on_batch(x_device, (y_device,) * heads))
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128, help="patch edge (default 128)")
    parser.add_argument("--batch", type=int, default=2, help="batch size (default 2)")
    parser.add_argument("--repeats", type=int, default=5, help="timed calls per figure")
    parser.add_argument(
        "--variants", help=f"model variants, comma-separated (default: {', '.join(VARIANTS)})"
    )
    parser.add_argument("--parts", default="transfer,model,ops", help="which parts to run")
    parser.add_argument("--trace", type=Path, help="write a profiler trace here")
    parser.add_argument(
        "--quick", action="store_true", help="for CI: 16³, batch 1, the first variant"
    )
    parser.add_argument("--output", type=Path, default=RESULTS, help="results folder")
    args = parser.parse_args(argv)
    if keras.backend.backend() != "jax":
        parser.error(f"runs on Keras' JAX backend, not {keras.backend.backend()!r}")
    if args.quick:
        args.size, args.batch, args.repeats = 16, 1, 1
    if args.variants is None:
        args.variants = next(iter(VARIANTS)) if args.quick else ",".join(VARIANTS)
    unknown = [v for v in args.variants.split(",") if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variant(s) {unknown}; choose from {list(VARIANTS)}")
    parts = args.parts.split(",")
    register_direct_norm()
    gpu = accelerator_name()
    record: dict[str, Any] = {"size": args.size, "batch": args.batch}
    sections = []

    if "transfer" in parts:
        record["transfer"] = time_transfer(args.size, args.batch, args.repeats)
        lines = [
            [r["what"], f"{r['mib']:.0f}", f"{r['s'] * 1e3:.1f}", f"{r['gb_s']:.2f}"]
            for r in record["transfer"]
        ]
        sections.append(markdown_table(["transfer", "MiB", "ms", "GB/s"], lines))
        print(sections[-1], flush=True)

    if "model" in parts:
        record["model"] = []
        for index, variant in enumerate(args.variants.split(",")):
            trace = args.trace if index == 0 else None
            try:
                row = time_model(variant, args.size, args.batch, args.repeats, trace)
            except Exception as error:  # noqa: BLE001 - a row, not a crash
                row = {"variant": variant, "error": f"{type(error).__name__}: {error}"[:200]}
            record["model"].append(row)
            print(row, flush=True)
        keys = [
            "step_device_ms",
            "step_numpy_ms",
            "forward_ms",
            "predict_on_batch_numpy_ms",
            "first_step_s",
        ]
        lines = [
            [
                r["variant"],
                *("–" if r.get(k) is None else f"{r[k]:.1f}" for k in keys),
                r.get("error", ""),
            ]
            for r in record["model"]
        ]
        headers = [
            "variant",
            "step, data on device (ms)",
            "step, NumPy data (ms)",
            "forward, first head (ms)",
            "predict_on_batch, NumPy (ms)",
            "first step (s)",
            "error",
        ]
        sections.append(markdown_table(headers, lines))

    if "ops" in parts:
        record["ops"] = []
        shapes = [(args.size, 32), (args.size // 2, 64)][: 1 if args.quick else 2]
        for size, channels in shapes:
            for name, (factory, shape) in op_layers(size, channels).items():
                for dtype in ("float32", "bfloat16"):
                    try:
                        result = time_op(factory, shape, args.batch, dtype, args.repeats)
                    except Exception as error:  # noqa: BLE001 - a row, not a crash
                        result = {"error": f"{type(error).__name__}: {error}"[:200]}
                    row = {"op": name, "shape": "×".join(map(str, shape)), "dtype": dtype, **result}
                    record["ops"].append(row)
                    print(row, flush=True)
        lines = [
            [
                r["op"],
                r["shape"],
                r["dtype"],
                f"{r.get('forward_ms', float('nan')):.2f}",
                f"{r.get('forward_backward_ms', float('nan')):.2f}",
                r.get("error", ""),
            ]
            for r in record["ops"]
        ]
        headers = ["op", "input", "dtype", "forward (ms)", "forward + backward (ms)", "error"]
        sections.append(markdown_table(headers, lines))

    info = stamp("step_breakdown", quick=args.quick, accelerator=gpu)
    name = f"step_breakdown-{'quick-' if args.quick else ''}{gpu or 'cpu'}-{info['date'][:10]}"
    table = (
        f"# Training step breakdown, nnunet_3d — {info['date']}\n\nMachine: {info['machine']}; "
        f"accelerator {gpu or 'none (CPU)'}; Keras {info['packages']['keras']} on JAX "
        f"{info['packages']['jax']}; {args.size}³ patches, batch {args.batch}; medians of "
        f"{args.repeats} calls after one untimed.\n\n" + "\n".join(sections)
    )
    save(args.output, name.replace(" ", "_"), {**info, **record}, table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
