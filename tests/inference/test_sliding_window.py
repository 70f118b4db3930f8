"""Sliding-window inference: exact stitching, normalised weights, TTA, Keras models."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from unetseg.errors import ConfigError, DataError
from unetseg.inference import (
    SlidingWindowInferer,
    gaussian_importance_map,
    sliding_window_inference,
    window_starts,
)
from unetseg.inference.heads import first_head
from unetseg.networks import UNetConfig

pytestmark = pytest.mark.backends


def identity(batch):
    return batch


def affine_channels(batch):
    """A fixed, position-independent function with a different output channel count."""
    return np.concatenate([2.0 * batch - 1.0, batch**2], axis=-1)


@given(
    size=st.integers(1, 60),
    roi=st.integers(1, 30),
    overlap=st.sampled_from([0.0, 0.25, 0.5, 0.75, 0.9]),
)
def test_window_starts_cover_the_axis_with_at_least_the_overlap(size, roi, overlap):
    if roi > size:
        with pytest.raises(ConfigError):
            window_starts(size, roi, overlap)
        return
    starts = window_starts(size, roi, overlap)
    assert starts[0] == 0
    assert starts[-1] == size - roi
    assert starts == sorted(set(starts))
    steps = np.diff(starts)
    assert (steps <= math.ceil(max(1.0, roi * (1 - overlap)))).all()


@pytest.mark.parametrize("overlap", [0.0, 0.25, 0.5, 0.625, 0.9])
@pytest.mark.parametrize("mode", ["gaussian", "constant"])
@pytest.mark.parametrize(
    ("shape", "roi"),
    [
        ((23, 17, 3), (8, 8)),  # 2D, several windows
        ((5, 17, 2), (8, 8)),  # 2D, padded on one axis
        ((19, 13, 11, 2), (8, 6, 4)),  # 3D
        ((6, 5, 3, 1), (8, 8, 8)),  # 3D, smaller than one window on every axis
    ],
)
def test_stitching_a_fixed_function_is_exact(shape, roi, overlap, mode):
    image = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    for function, expected in ((identity, image), (affine_channels, affine_channels(image))):
        result = sliding_window_inference(
            function, image, roi, overlap=overlap, mode=mode, batch_size=3, output="logits"
        )
        assert result.shape == expected.shape
        assert result.dtype == np.float32
        np.testing.assert_allclose(result, expected, rtol=1e-5, atol=1e-5)


def test_a_batch_of_images_and_the_model_call_count():
    images = np.random.default_rng(2).normal(size=(2, 20, 20, 1)).astype(np.float32)
    inferer = SlidingWindowInferer((8, 8), overlap=0.5, batch_size=4, output="logits")
    np.testing.assert_allclose(inferer(identity, images), images, atol=1e-5)
    assert inferer.windows == 2 * 16  # starts 0, 4, 8, 12 per axis
    assert inferer.model_calls == 2 * 4


def test_every_model_call_gets_a_batch_of_the_same_shape():
    shapes = []

    def recording(batch):
        shapes.append(batch.shape)
        return batch

    image = np.zeros((20, 13, 1), np.float32)
    SlidingWindowInferer((8, 8), batch_size=4, tta=True)(recording, image)
    assert len(set(shapes)) == 1
    assert shapes[0] == (4, 8, 8, 1)


@pytest.mark.parametrize("roi", [(4, 6), (5, 4, 7), (128, 128, 128)])
def test_gaussian_importance_map_is_normalised_symmetric_and_positive(roi):
    weights = gaussian_importance_map(roi)
    assert weights.shape == roi
    assert weights.dtype == np.float32
    assert weights.max() == pytest.approx(1.0)
    assert (weights > 0).all()
    for axis in range(len(roi)):
        np.testing.assert_array_equal(weights, np.flip(weights, axis))
    # The blended result of a constant is that constant: the weights are normalised.
    constant = np.full((*[2 * r + 1 for r in roi[:2]], *roi[2:], 1), 0.7, np.float32)
    if len(roi) == 2:
        blended = sliding_window_inference(identity, constant, roi, output="logits")
        np.testing.assert_allclose(blended, 0.7, rtol=1e-6)


def test_centre_of_a_window_is_trusted_more_than_its_border():
    # A "model" that answers 1 at a window's centre voxel row and 0 elsewhere would give
    # a blend dominated by the centres; simpler: the Gaussian weight itself.
    weights = gaussian_importance_map((9,))
    assert weights[4] == 1.0
    assert weights[0] < weights[2] < weights[4]
    assert weights[0] == pytest.approx(np.exp(-0.5 * (4 / (9 / 8)) ** 2), rel=1e-5)


def test_flip_tta_of_a_flip_equivariant_function_is_exact():
    image = np.random.default_rng(3).normal(size=(14, 11, 9, 2)).astype(np.float32)

    def pointwise(batch):  # voxel-wise, so flip-equivariant
        return np.tanh(batch) * 3.0

    plain = sliding_window_inference(pointwise, image, (8, 8, 8), output="logits")
    tta = SlidingWindowInferer((8, 8, 8), tta=True, output="logits", batch_size=2)
    np.testing.assert_allclose(tta(pointwise, image), plain, rtol=1e-5, atol=1e-6)
    windows = 3 * 2 * 2  # starts (0, 3, 6), (0, 3), (0, 1)
    assert tta.model_calls == (windows // 2) * 8


def test_flip_tta_averages_the_mirrored_predictions():
    # A function that is not flip-equivariant: it answers the first voxel's value
    # everywhere. TTA averages over the mirrors, so every corner contributes.
    image = np.zeros((4, 4, 1), np.float32)
    image[0, 0] = 4.0

    def first_voxel(batch):
        return np.broadcast_to(batch[:, :1, :1, :], batch.shape).copy()

    result = sliding_window_inference(first_voxel, image, (4, 4), tta=True, output="logits")
    np.testing.assert_allclose(result, 1.0)  # (4 + 0 + 0 + 0) / 4


def test_probabilities_apply_the_activation_after_blending():
    image = np.random.default_rng(4).normal(size=(9, 9, 3)).astype(np.float32) * 30
    sigmoid = sliding_window_inference(identity, image, (4, 4), activation="sigmoid")
    np.testing.assert_allclose(sigmoid, 1 / (1 + np.exp(-image.astype(np.float64))), atol=1e-6)
    assert np.isfinite(sigmoid).all()
    softmax = sliding_window_inference(identity, image, (4, 4), activation="softmax")
    np.testing.assert_allclose(softmax.sum(axis=-1), 1.0, rtol=1e-5)
    passthrough = sliding_window_inference(identity, image, (4, 4), activation=None)
    np.testing.assert_allclose(passthrough, image, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("tta", [False, True])
def test_neither_the_image_nor_the_model_outputs_are_written_to(tta):
    """The blending works in its own buffers: read-only model outputs and the caller's
    image stay as they were (JAX hands back read-only arrays)."""
    image = np.random.default_rng(5).normal(size=(9, 7, 2)).astype(np.float32)
    original = image.copy()
    returned = []

    def read_only_identity(batch):
        output = batch.copy()
        output.setflags(write=False)
        returned.append((output, output.copy()))
        return output

    result = sliding_window_inference(read_only_identity, image, (4, 4), tta=tta, output="logits")
    np.testing.assert_allclose(result, image, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(image, original)
    assert all(np.array_equal(output, copy) for output, copy in returned)


def _small_unet(deep_supervision: bool) -> keras.Model:
    config = UNetConfig(
        spatial_dims=3,
        in_channels=2,
        out_channels=3,
        features=(4, 8, 8),
        deep_supervision=deep_supervision,
    )
    return config.build()


def test_a_keras_model_and_its_deep_supervision_head():
    keras.utils.set_random_seed(0)
    model = _small_unet(deep_supervision=True)
    image = np.random.default_rng(5).normal(size=(10, 9, 8, 2)).astype(np.float32)
    inferer = SlidingWindowInferer((8, 8, 8), batch_size=2)
    result = inferer(model, image)
    assert result.shape == (10, 9, 8, 3)
    assert ((result >= 0) & (result <= 1)).all()
    # A window that is the whole (padded) image equals one direct model call.
    padded = np.zeros((1, 8, 8, 8, 2), np.float32)
    padded[0] = image[:8, :8, :8]
    outputs = model(padded)
    assert isinstance(outputs, (list, tuple))
    assert len(outputs) == 2
    direct = keras.ops.convert_to_numpy(keras.ops.sigmoid(outputs[0]))[0]
    single = SlidingWindowInferer((8, 8, 8))(model, image[:8, :8, :8])
    np.testing.assert_allclose(single, direct, atol=1e-5)


def test_a_deep_supervision_model_runs_only_its_first_head():
    model = _small_unet(deep_supervision=True)
    predict = SlidingWindowInferer((8, 8, 8), batch_size=2).predict_function(model)
    batch = np.random.default_rng(6).normal(size=(2, 8, 8, 8, 2)).astype(np.float32)
    head0 = keras.ops.convert_to_numpy(model(batch)[0])
    np.testing.assert_allclose(predict(batch), head0, atol=1e-5)
    assert len(model.outputs) == 2  # the user's model is left as it was
    # One first-head model per model, so its compiled predict function is reused.
    assert first_head(model) is first_head(model)
    assert first_head(model).predict_function is not None


class Doubler(keras.Model):
    def call(self, inputs):
        return inputs * 2.0


@pytest.mark.backends
def test_a_subclassed_keras_model():
    image = np.random.default_rng(7).normal(size=(6, 5, 1)).astype(np.float32)
    result = sliding_window_inference(Doubler(), image, (4, 4), activation=None)
    np.testing.assert_allclose(result, 2 * image, rtol=1e-5, atol=1e-5)


def test_errors_name_the_problem():
    with pytest.raises(ConfigError, match="overlap"):
        SlidingWindowInferer((8, 8), overlap=1.0)
    with pytest.raises(ConfigError, match="batch_size"):
        SlidingWindowInferer((8, 8), batch_size=0)
    with pytest.raises(ConfigError, match="roi_size"):
        SlidingWindowInferer((8,))
    with pytest.raises(ConfigError, match=r"gausian|mode"):
        SlidingWindowInferer((8, 8), mode="gausian")
    with pytest.raises(ConfigError, match="activation"):
        SlidingWindowInferer((8, 8), activation="relu")
    with pytest.raises(DataError, match="spatial axes"):
        SlidingWindowInferer((8, 8))(identity, np.zeros((8, 8, 8, 8, 1)))
    with pytest.raises(DataError, match="window's spatial size"):
        SlidingWindowInferer((8, 8))(lambda b: b[:, ::2, ::2], np.zeros((8, 8, 1)))


def test_windows_of_a_stack_of_images_share_batches():
    # A stack of 2D slices has one window per slice: they go through the model
    # batch_size at a time, not one padded batch per slice.
    rng = np.random.default_rng(0)
    images = rng.normal(size=(10, 16, 12, 2)).astype(np.float32)
    inferer = SlidingWindowInferer((16, 12), batch_size=8, output="logits")
    together = inferer(lambda batch: batch * 3.0, images)
    assert inferer.model_calls == 2
    alone = np.stack([inferer(lambda batch: batch * 3.0, image) for image in images])
    np.testing.assert_allclose(together, alone, rtol=1e-6)
    np.testing.assert_allclose(together, images * 3.0, rtol=1e-5)


def test_an_ensemble_averages_the_probabilities_of_its_models():
    from unetseg.inference import Ensemble

    image = np.random.default_rng(0).normal(size=(12, 12, 1)).astype(np.float32)
    ensemble = Ensemble([lambda b: b, lambda b: -b], "sigmoid")
    inferer = SlidingWindowInferer((8, 8), batch_size=2, activation=None)
    # sigmoid(x) and sigmoid(-x) average to one half everywhere.
    np.testing.assert_allclose(inferer(ensemble, image), 0.5, atol=1e-6)
    assert len(ensemble) == 2
    with pytest.raises(ConfigError, match="at least one model"):
        Ensemble([], "sigmoid")
