"""Check an unetseg installation end to end, and show what it provides.

Run it with ``python examples/quickstart.py``. It

1. prints the versions, the Keras backend and the devices it sees;
2. registers a small Keras layer in a registry, builds a model with it, saves the
   model as ``.keras`` and loads it back with ``safe_mode=True`` and no
   ``custom_objects`` — the promise every unetseg component keeps — and checks
   that the loaded model predicts exactly what the original did;
3. lists the registries and what they hold, plugins included.

This is the smallest honest end-to-end run the library offers until the BraTS
2020 recipe (``examples/brats2020/``) lands; it then becomes the main job.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out

import unetseg  # noqa: F401  (before Keras: it makes sure an installed backend starts)

# isort: split
import keras
import numpy as np

from unetseg.info import environment_report, format_report
from unetseg.registry import Registry

EXAMPLE_LAYERS = Registry("quickstart layer", keras_serializable=True)


@EXAMPLE_LAYERS.register("channel_scale")
class ChannelScale(keras.layers.Layer):
    """Multiply each channel by a learned factor (a stand-in for a real component)."""

    def build(self, input_shape):
        self.scale = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="scale")

    def call(self, inputs):
        return inputs * self.scale


def save_and_reload_roundtrip(work_dir: Path, seed: int = 0) -> float:
    """Build, save and reload a tiny 3D model; return the largest prediction difference."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((16, 16, 8, 4))  # channels last: (H, W, D, C), four MRI modalities
    x = keras.layers.Conv3D(8, 3, padding="same", activation="relu")(inputs)
    x = EXAMPLE_LAYERS.create("channel_scale")(x)
    outputs = keras.layers.Conv3D(3, 1)(x)  # three region logits: WT, TC, ET
    model = keras.Model(inputs, outputs)

    path = work_dir / "quickstart.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True)

    volume = np.random.default_rng(seed).normal(size=(1, 16, 16, 8, 4)).astype("float32")
    expected = keras.ops.convert_to_numpy(model(volume))
    actual = keras.ops.convert_to_numpy(restored(volume))
    return float(np.max(np.abs(expected - actual)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    args = parser.parse_args(argv)

    report = environment_report()
    print(format_report(report))
    print()
    with tempfile.TemporaryDirectory() as tmp:
        difference = save_and_reload_roundtrip(Path(tmp), seed=args.seed)
    if difference != 0.0:
        print(f"FAILED: the reloaded model differs from the original by {difference:g}")
        return 1
    print(
        "OK: a model with a registered custom layer saved as .keras and loaded back "
        f"(safe_mode=True, no custom_objects) on the {report['keras_backend']} backend, "
        "with identical predictions."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
