"""The matrix-product transposed convolutions agree with Keras' own, forward and in training."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from unetseg.errors import ConfigError
from unetseg.networks import (
    NonOverlappingConv2DTranspose,
    NonOverlappingConv3DTranspose,
    UNetConfig,
    count_flops,
)

pytestmark = pytest.mark.backends

CASES = [
    (NonOverlappingConv2DTranspose, keras.layers.Conv2DTranspose, (2, 2), (5, 3)),
    (NonOverlappingConv2DTranspose, keras.layers.Conv2DTranspose, (1, 3), (4, 2)),
    (NonOverlappingConv3DTranspose, keras.layers.Conv3DTranspose, (2, 2, 2), (3, 4, 2)),
    (NonOverlappingConv3DTranspose, keras.layers.Conv3DTranspose, (1, 2, 2), (3, 2, 5)),
]


def twins(ours, theirs, stride, spatial, use_bias=True, padding="same"):
    """Both layers on the same input, with the same (random, non-zero-bias) weights."""
    rng = np.random.default_rng(sum(stride))
    x = rng.normal(size=(2, *spatial, 3)).astype("float32")
    a = ours(4, stride, strides=stride, padding=padding, use_bias=use_bias)
    b = theirs(4, stride, strides=stride, padding=padding, use_bias=use_bias)
    a.build(x.shape)
    b.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in b.get_weights()]
    a.set_weights(weights)
    b.set_weights(weights)
    return a, b, x


@pytest.mark.parametrize(("ours", "theirs", "stride", "spatial"), CASES)
@pytest.mark.parametrize("padding", ["same", "valid"])
def test_same_outputs_as_keras(ours, theirs, stride, spatial, padding):
    a, b, x = twins(ours, theirs, stride, spatial, padding=padding)
    expected = keras.ops.convert_to_numpy(b(x))
    result = keras.ops.convert_to_numpy(a(x))
    assert result.shape == expected.shape == (2, *np.multiply(spatial, stride), 4)
    np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("ours", "theirs", "stride", "spatial"), CASES)
def test_same_training_step_as_keras(ours, theirs, stride, spatial):
    """One SGD step from the same weights leaves the same weights: the gradients agree."""
    models = []
    for layer in twins(ours, theirs, stride, spatial)[:2]:
        model = keras.Sequential([keras.Input((*spatial, 3)), layer])
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        models.append(model)
    x = np.random.default_rng(1).normal(size=(2, *spatial, 3)).astype("float32")
    y = np.random.default_rng(2).normal(size=(2, *np.multiply(spatial, stride), 4))
    for model in models:
        model.train_on_batch(x, y.astype("float32"))
    for ours_weight, keras_weight in zip(*(m.get_weights() for m in models), strict=True):
        np.testing.assert_allclose(ours_weight, keras_weight, rtol=1e-4, atol=1e-5)
    assert not np.allclose(
        models[0].get_weights()[0], twins(ours, theirs, stride, spatial)[1].get_weights()[0]
    )


def test_without_bias_and_with_an_activation():
    a, b, x = twins(
        NonOverlappingConv3DTranspose,
        keras.layers.Conv3DTranspose,
        (2, 2, 2),
        (2, 3, 2),
        use_bias=False,
    )
    assert len(a.get_weights()) == 1
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(a(x)), keras.ops.convert_to_numpy(b(x)), rtol=1e-5, atol=1e-5
    )
    relu = NonOverlappingConv2DTranspose(2, 2, strides=2, activation="relu")
    assert keras.ops.convert_to_numpy(relu(np.ones((1, 2, 2, 3), "float32"))).min() >= 0


def test_unknown_spatial_size_and_mixed_precision():
    layer = NonOverlappingConv3DTranspose(4, 2, strides=2, dtype="mixed_bfloat16")
    model = keras.Sequential([keras.Input((None, None, None, 3)), layer])
    for spatial in ((2, 3, 4), (5, 1, 2)):
        output = model(np.ones((1, *spatial, 3), "float32"))
        assert tuple(output.shape) == (1, *np.multiply(spatial, 2), 4)
        assert keras.backend.standardize_dtype(output.dtype) == "bfloat16"


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"kernel_size": 3, "strides": 2},
            r"kernel_size == strides, got kernel_size=\(3, 3\), strides=\(2, 2\)",
        ),
        ({"kernel_size": 2, "strides": 1}, "kernel_size == strides"),
        ({"kernel_size": 1, "strides": 1, "dilation_rate": 2}, r"no dilation, got \(2, 2\)"),
        ({"kernel_size": 2, "strides": 2, "output_padding": 1}, "no output_padding"),
        ({"kernel_size": 2, "strides": 2, "data_format": "channels_first"}, "channels-last only"),
    ],
)
def test_what_it_does_not_compute_is_refused(arguments, message):
    with pytest.raises(ConfigError, match=message):
        NonOverlappingConv2DTranspose(4, **arguments)


def test_the_builder_uses_it_and_a_saved_model_loads_without_custom_objects(tmp_path):
    config = UNetConfig(
        spatial_dims=3,
        in_channels=2,
        out_channels=2,
        num_stages=3,
        base_features=4,
        max_features=8,
        input_size=(8, 8, 8),
    )
    model = config.build()
    ups = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv3DTranspose)]
    assert len(ups) == 2
    assert all(isinstance(layer, NonOverlappingConv3DTranspose) for layer in ups)
    assert count_flops(model)["forward"] > 0
    x = np.random.default_rng(0).normal(size=(1, 8, 8, 8, 2)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, compile=False)
    assert isinstance(loaded.get_layer(ups[0].name), NonOverlappingConv3DTranspose)
    for before, after in zip(
        model.predict(x, verbose=0), loaded.predict(x, verbose=0), strict=True
    ):
        np.testing.assert_allclose(before, after, rtol=1e-6, atol=1e-6)
