"""The device-resident sliding window equals the NumPy path, on every backend."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from unetseg.backends import accelerator_visible
from unetseg.errors import ConfigError, DataError
from unetseg.inference import Ensemble, SlidingWindowInferer
from unetseg.networks import UNetConfig

pytestmark = pytest.mark.backends


def _convolutions(dims: int, channels: int = 2, outputs: int = 3, final: str | None = None):
    """A small fully convolutional model with two outputs (as deep supervision has)."""
    keras.utils.set_random_seed(3)
    conv = getattr(keras.layers, f"Conv{dims}D")
    inputs = keras.Input((None,) * dims + (channels,))
    hidden = conv(4, 3, padding="same", activation="relu")(inputs)
    head = conv(outputs, 3, padding="same", activation=final)(hidden)
    return keras.Model(inputs, [head, hidden])


def _both(model, images, roi, **options):
    """The NumPy path's and the device path's predictions, and the two inferers."""
    host = SlidingWindowInferer(roi, blending="numpy", **options)
    device = SlidingWindowInferer(roi, blending="device", **options)
    return host(model, images), device(model, images), host, device


@pytest.mark.parametrize(
    ("shape", "roi", "options"),
    [
        # 3D, odd sizes, padded along the last axis (13 < 16), two images
        ((2, 19, 21, 13, 2), (8, 8, 16), {"batch_size": 3}),
        # 3D with flips: fewer windows per call than flips (3 of 8: groups 3, 3, 2)
        ((19, 21, 13, 2), (8, 8, 8), {"batch_size": 3, "tta": True}),
        # 3D with flips: two whole windows with their 8 flips per call
        ((19, 21, 13, 2), (8, 8, 8), {"batch_size": 16, "tta": True, "overlap": 0.25}),
        # 2D stack of slices, padded, flips
        ((3, 7, 30, 2), (8, 8), {"batch_size": 2, "tta": True}),
        # 2D, logits, plain average
        ((40, 30, 2), (8, 8), {"batch_size": 4, "output": "logits", "mode": "constant"}),
        # 2D, softmax over classes
        ((23, 17, 2), (8, 8), {"batch_size": 5, "activation": "softmax"}),
    ],
)
def test_device_blending_equals_numpy_blending(shape, roi, options):
    model = _convolutions(len(roi))
    images = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    original = images.copy()
    host, device, host_inferer, inferer = _both(model, images, roi, **options)
    assert device.shape == host.shape == (*shape[:-1], 3)
    assert device.dtype == np.float32
    np.testing.assert_allclose(device, host, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(images, original)  # the input is not written to
    assert inferer.windows == host_inferer.windows > 1
    flips = 2 ** len(roi) if options.get("tta") else 1
    per_call = min(flips, options["batch_size"])
    per_step = max(1, options["batch_size"] // flips)
    assert inferer.model_calls == math.ceil(inferer.windows / per_step) * math.ceil(
        flips / per_call
    )


def test_a_unet_with_deep_supervision_and_a_second_image_shape():
    model = UNetConfig(
        spatial_dims=3, in_channels=2, out_channels=3, features=(4, 8, 8), deep_supervision=True
    ).build()
    rng = np.random.default_rng(1)
    inferer = SlidingWindowInferer((8, 8, 8), batch_size=2, tta=True, blending="device")
    host = SlidingWindowInferer((8, 8, 8), batch_size=2, tta=True, blending="numpy")
    for shape in ((12, 10, 9, 2), (9, 16, 8, 2)):  # a new shape compiles its own steps
        image = rng.normal(size=shape).astype(np.float32)
        np.testing.assert_allclose(inferer(model, image), host(model, image), atol=1e-5)


def test_device_blending_follows_weights_changed_after_the_first_call():
    # The network is compiled with its weights passed in, not baked in: a model that
    # keeps training (validation during fit) is predicted with its current weights.
    model = _convolutions(2)
    image = np.random.default_rng(2).normal(size=(12, 12, 2)).astype(np.float32)
    inferer = SlidingWindowInferer((8, 8), batch_size=2, blending="device")
    before = inferer(model, image)
    model.set_weights([w * 1.5 + 0.1 for w in model.get_weights()])
    after = inferer(model, image)
    assert np.abs(after - before).max() > 1e-3
    expected = SlidingWindowInferer((8, 8), batch_size=2, blending="numpy")(model, image)
    np.testing.assert_allclose(after, expected, atol=1e-5)


def test_an_ensemble_of_keras_models_on_the_device():
    logits = _convolutions(2)
    probabilities = _convolutions(2, final="sigmoid")
    probabilities.set_weights([w * -0.5 for w in probabilities.get_weights()])
    ensemble = Ensemble([logits, probabilities], "sigmoid")
    image = np.random.default_rng(3).normal(size=(2, 13, 11, 2)).astype(np.float32)
    host, device, *_ = _both(ensemble, image, (8, 8), batch_size=3, activation=None)
    np.testing.assert_allclose(device, host, atol=1e-5)
    assert ((device >= 0) & (device <= 1)).all()


def test_auto_blends_on_the_device_only_where_a_gpu_is_seen():
    model = _convolutions(2)
    auto = SlidingWindowInferer((8, 8))
    assert auto.blending == "auto"
    assert auto.uses_device(model) == accelerator_visible()
    assert not auto.uses_device(lambda batch: batch)  # a function runs on the host
    assert not auto.uses_device(Ensemble([lambda batch: batch], "sigmoid"))
    assert not SlidingWindowInferer((8, 8), blending="numpy").uses_device(model)
    assert SlidingWindowInferer((8, 8), blending="device").uses_device(model)
    assert "blending='auto'" in repr(auto)


def test_device_blending_errors_name_the_problem():
    image = np.zeros((12, 12, 2), np.float32)
    with pytest.raises(ConfigError, match="blending"):
        SlidingWindowInferer((8, 8), blending="gpu")
    with pytest.raises(ConfigError, match="blending='numpy'"):
        SlidingWindowInferer((8, 8), blending="device")(lambda batch: batch, image)
    inputs = keras.Input((None, None, 2))
    halving = keras.Model(inputs, keras.layers.MaxPooling2D()(inputs))
    with pytest.raises(DataError, match="window's spatial size"):
        SlidingWindowInferer((8, 8), blending="device")(halving, image)


class TwoConvolutions(keras.Model):
    """A subclassed model: its weights are made on its first call."""

    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Conv2D(4, 3, padding="same", activation="relu")
        self.head = keras.layers.Conv2D(3, 1)

    def call(self, inputs):
        return self.head(self.hidden(inputs))


def test_a_subclassed_model_never_called_before_is_built_outside_the_trace():
    # Its weights made inside a compiled trace would leak the trace (JAX) and break
    # every later use of the model.
    model = TwoConvolutions()
    image = np.random.default_rng(4).normal(size=(13, 11, 2)).astype(np.float32)
    device = SlidingWindowInferer((8, 8), batch_size=2, blending="device")(model, image)
    host = SlidingWindowInferer((8, 8), batch_size=2, blending="numpy")(model, image)
    np.testing.assert_allclose(device, host, atol=1e-5)
    assert len(model.get_weights()) == 4
    model.set_weights([w * 2.0 for w in model.get_weights()])
    assert keras.ops.convert_to_numpy(model(image[None, :8, :8])).shape == (1, 8, 8, 3)


def test_an_infinite_output_does_not_turn_the_blend_into_nan():
    # A step's filler windows (weight 0) must not add 0 × inf = NaN.
    inputs = keras.Input((None, None, 1))
    infinite = keras.layers.Lambda(lambda x: keras.ops.where(x > 0, np.inf, -1.0))(inputs)
    model = keras.Model(inputs, infinite)
    image = np.ones((12, 8, 1), np.float32)
    host, device, *_ = _both(model, image, (8, 8), batch_size=3, output="logits")
    assert not np.isnan(device).any()
    np.testing.assert_array_equal(device, host)


def test_the_compiled_network_is_kept_with_the_model_not_the_inferer():
    import gc
    import weakref

    from unetseg.inference.device_window import compiled_network

    model = _convolutions(2)
    image = np.zeros((12, 12, 2), np.float32)
    for _ in range(2):  # a new inferer (sliding_window_inference makes one per call)
        SlidingWindowInferer((8, 8), blending="device")(model, image)
    batch = keras.ops.zeros((2, 8, 8, 2))
    assert compiled_network(model, batch) is compiled_network(model, batch)
    alive = weakref.ref(model)
    del model
    gc.collect()
    assert alive() is None  # the cache does not keep a model alive
