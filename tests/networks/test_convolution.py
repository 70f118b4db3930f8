"""The 2D convolution with a matrix-product kernel gradient agrees with Keras' Conv2D."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from unetseg.networks import MatmulGradientConv2D, UNetConfig
from unetseg.networks.convolution import _tensorflow_without_gpu

pytestmark = pytest.mark.backends

# (kernel, spatial, padding): odd and even sizes and kernels, rectangular kernels, 1×1
CASES = [
    ((3, 3), (7, 6), "same"),
    ((3, 5), (5, 8), "valid"),
    ((1, 1), (4, 3), "same"),
    ((5, 3), (9, 4), "valid"),
    ((2, 2), (5, 5), "same"),
    ((3, 3), (6, 7), "valid"),
]


def twins(kernel, spatial, padding="same", use_bias=True, channels=3, filters=4):
    """Ours and Keras' layer with the same random weights (a non-zero bias), and an input."""
    rng = np.random.default_rng(sum(kernel) + sum(spatial))
    x = rng.normal(size=(2, *spatial, channels)).astype("float32")
    layers = [
        cls(filters, kernel, padding=padding, use_bias=use_bias)
        for cls in (MatmulGradientConv2D, keras.layers.Conv2D)
    ]
    for layer in layers:
        layer.build(x.shape)
    weights = [rng.normal(size=w.shape).astype("float32") for w in layers[1].get_weights()]
    for layer in layers:
        layer.set_weights(weights)
    return *layers, x


def test_the_matmul_gradient_runs_in_training_only_on_tensorflow_without_a_gpu(monkeypatch):
    """A spy on the custom path: ``fit`` traces it, ``predict`` and a plain call do not."""
    from unetseg.networks import convolution

    calls = []
    original = convolution._conv2d_matmul_kernel_gradient

    def spy(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(convolution, "_conv2d_matmul_kernel_gradient", spy)
    ours, _, x = twins((3, 3), (5, 5))
    model = keras.Sequential([keras.Input((5, 5, 3)), ours])
    model.compile(optimizer="sgd", loss="mse")
    model.predict_on_batch(x)
    model(x)
    model.evaluate(x, np.zeros((2, 5, 5, 4), "float32"), verbose=0)
    assert calls == []
    model.train_on_batch(x, np.zeros((2, 5, 5, 4), "float32"))
    expected = keras.backend.backend() == "tensorflow" and _tensorflow_without_gpu()
    assert bool(calls) == expected


@pytest.mark.parametrize(
    "kwargs", [{"strides": 2}, {"dilation_rate": 2}, {"groups": 3, "filters": 3}]
)
def test_other_convolutions_keep_keras_gradient(kwargs):
    kwargs = {"filters": 6, "kernel_size": 3, **kwargs}
    layer = MatmulGradientConv2D(**kwargs)
    layer.build((1, 8, 8, 6))
    assert not layer._uses_matmul_gradient(keras.ops.zeros((1, 8, 8, 6)))


def test_mixed_precision_keeps_keras_gradient():
    layer = MatmulGradientConv2D(4, 3, dtype="mixed_bfloat16")
    layer.build((1, 6, 6, 2))
    assert not layer._uses_matmul_gradient(keras.ops.zeros((1, 6, 6, 2), dtype="bfloat16"))


@pytest.mark.parametrize(("kernel", "spatial", "padding"), CASES)
def test_same_outputs_as_keras_in_training_and_inference(kernel, spatial, padding):
    ours, theirs, x = twins(kernel, spatial, padding=padding)
    expected = keras.ops.convert_to_numpy(theirs(x))
    for training in (True, False):
        result = keras.ops.convert_to_numpy(ours(x, training=training))
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(("kernel", "spatial", "padding"), CASES)
def test_same_training_step_as_keras(kernel, spatial, padding):
    """One SGD step from the same weights leaves the same weights: the gradients agree."""
    use_bias = kernel[0] == 3  # with and without
    models = []
    start = None
    for layer in twins(kernel, spatial, padding=padding, use_bias=use_bias)[:2]:
        start = layer.get_weights()
        # a layer in front, so the input gradient is used too
        model = keras.Sequential(
            [keras.Input((None, None, 3)), keras.layers.Dense(3, kernel_initializer="ones"), layer]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        models.append(model)
    rng = np.random.default_rng(3)
    x = rng.normal(size=(2, *spatial, 3)).astype("float32")
    y = keras.ops.convert_to_numpy(models[1].predict_on_batch(x))
    y = (y + rng.normal(size=y.shape)).astype("float32")
    for model in models:
        model.train_on_batch(x, y)
    ours, theirs = (m.get_weights() for m in models)
    for ours_weight, keras_weight in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(ours_weight, keras_weight, rtol=1e-4, atol=1e-5)
    assert not np.allclose(ours[-1 if not use_bias else -2], start[0])


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's gradient")
@pytest.mark.parametrize(("kernel", "spatial", "padding"), CASES)
def test_gradients_equal_tensorflows_in_a_traced_function(kernel, spatial, padding):
    """Input and kernel gradients, traced with unknown spatial sizes as in ``fit``."""
    import tensorflow as tf

    ours, theirs, x = twins(kernel, spatial, padding=padding, channels=5, filters=7)
    results = []
    for layer in (ours, theirs):

        @tf.function(input_signature=[tf.TensorSpec((None, None, None, 5))])
        def gradients(inputs, layer=layer):
            with tf.GradientTape() as tape:
                tape.watch(inputs)
                outputs = layer(inputs, training=True)
                loss = tf.reduce_sum(outputs * tf.sin(outputs))
            return tape.gradient(loss, [inputs, layer.kernel.value])

        results.append([g.numpy() for g in gradients(tf.constant(x))])
    for ours_gradient, keras_gradient in zip(*results, strict=True):
        scale = np.abs(keras_gradient).max()
        np.testing.assert_allclose(ours_gradient / scale, keras_gradient / scale, atol=1e-5)


def test_round_trips_through_a_keras_file(tmp_path):
    ours, _, x = twins((3, 3), (6, 6))
    model = keras.Sequential([keras.Input((6, 6, 3)), ours])
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded.layers[-1], MatmulGradientConv2D)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), atol=1e-6
    )


def test_the_builder_uses_it_for_2d_networks_only():
    net2d = UNetConfig(spatial_dims=2, in_channels=2, out_channels=1, features=(4, 8)).build()
    net3d = UNetConfig(spatial_dims=3, in_channels=2, out_channels=1, features=(4, 8)).build()
    convs2d = [layer for layer in net2d.layers if isinstance(layer, keras.layers.Conv2D)]
    assert convs2d
    assert all(isinstance(layer, MatmulGradientConv2D) for layer in convs2d)
    assert not any(isinstance(layer, MatmulGradientConv2D) for layer in net3d.layers)
