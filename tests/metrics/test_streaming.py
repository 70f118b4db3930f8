"""The Keras metrics accumulate over an epoch and agree with the NumPy functions."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from unetseg.errors import ConfigError
from unetseg.metrics import (
    METRICS,
    DiceMetric,
    IoUMetric,
    SensitivityMetric,
    SpecificityMetric,
    dice,
    iou,
    region_dice_metrics,
    sensitivity,
    specificity,
)

pytestmark = pytest.mark.backends

NUMPY = {
    DiceMetric: dice,
    IoUMetric: iou,
    SensitivityMetric: sensitivity,
    SpecificityMetric: specificity,
}


def batches(seed=0, count=5, shape=(3, 6, 6, 5, 3)):
    rng = np.random.default_rng(seed)
    for _ in range(count):
        truth = (rng.random(shape) > 0.7).astype("float32")
        logits = rng.normal(size=shape).astype("float32") + 2.0 * (truth - 0.5)
        yield truth, logits


@pytest.mark.parametrize("metric_class", sorted(NUMPY, key=lambda c: c.__name__))
def test_epoch_value_equals_numpy_on_concatenated_data(metric_class):
    metric = metric_class(num_channels=3)
    truths, logits = zip(*batches(), strict=True)
    for truth, logit in zip(truths, logits, strict=True):
        metric.update_state(truth, logit)
    truth = np.concatenate(truths)
    predicted = np.concatenate(logits) > 0.0  # sigmoid(x) > 0.5
    expected = [NUMPY[metric_class](predicted[..., c], truth[..., c]) for c in range(3)]
    per_channel = keras.ops.convert_to_numpy(metric.result_per_channel())
    np.testing.assert_allclose(per_channel, expected, rtol=1e-6)
    assert float(metric.result()) == pytest.approx(np.mean(expected), rel=1e-6)


def test_epoch_dice_is_not_the_mean_of_batch_dices():
    metric = DiceMetric(num_channels=1, from_logits=False)
    big = np.zeros((1, 10, 10, 1), "float32")
    big[0, :5] = 1.0
    small_truth = np.zeros((1, 10, 10, 1), "float32")
    small_truth[0, 0, 0] = 1.0
    metric.update_state(big, big)  # batch Dice 1
    metric.update_state(small_truth, np.zeros_like(small_truth))  # batch Dice 0
    assert float(metric.result()) == pytest.approx(2 * 50 / (2 * 50 + 1))


def test_argmax_mode_with_labels_excludes_background():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=(4, 8, 8))
    logits = rng.normal(size=(4, 8, 8, 4)).astype("float32")
    predicted = logits.argmax(-1)
    metric = DiceMetric(num_channels=4, activation="softmax")
    metric.update_state(labels, logits)
    expected = [dice(predicted == c, labels == c) for c in range(4)]
    assert float(metric.result()) == pytest.approx(np.mean(expected[1:]), rel=1e-6)
    with_background = DiceMetric(num_channels=4, activation="softmax", include_background=True)
    with_background.update_state(labels[..., None], logits)
    assert float(with_background.result()) == pytest.approx(np.mean(expected), rel=1e-6)


def test_single_channel_and_threshold():
    metric = DiceMetric(num_channels=3, channel=1, from_logits=False, threshold=0.7)
    truth = np.zeros((1, 4, 4, 3), "float32")
    truth[0, :2, :, 1] = 1
    probabilities = truth * 0.8 + 0.1
    probabilities[0, 2, 0, 1] = 0.65  # below the threshold: not a false positive
    metric.update_state(truth, probabilities)
    assert float(metric.result()) == 1.0


def test_sample_weight_scales_samples():
    truth = np.zeros((2, 4, 4, 1), "float32")
    truth[:, :2] = 1
    prediction = truth.copy()
    prediction[1] = 0.0  # second sample entirely missed
    weighted = DiceMetric(num_channels=1, from_logits=False)
    weighted.update_state(truth, prediction, sample_weight=np.array([1.0, 0.0]))
    assert float(weighted.result()) == 1.0


def test_empty_epoch_conventions():
    truth = np.zeros((1, 4, 4, 1), "float32")
    dice_metric = DiceMetric(num_channels=1, from_logits=False)
    dice_metric.update_state(truth, truth)
    assert float(dice_metric.result()) == 1.0
    sensitivity_metric = SensitivityMetric(num_channels=1, from_logits=False)
    sensitivity_metric.update_state(truth, truth)
    assert math.isnan(float(sensitivity_metric.result()))


def test_reset_state_starts_a_new_epoch():
    metric = DiceMetric(num_channels=3)
    for truth, logits in batches(count=2):
        metric.update_state(truth, logits)
    metric.reset_state()
    truth = np.ones((1, 2, 2, 3), "float32")
    metric.update_state(truth, np.full_like(truth, 5.0))
    assert float(metric.result()) == 1.0


def test_metric_inside_model_fit_and_saved_model(tmp_path):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 5, 2))
    model = keras.Model(inputs, keras.layers.Conv3D(3, 1)(inputs))
    model.compile(optimizer="sgd", loss="mse", metrics=region_dice_metrics())
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 6, 6, 5, 2)).astype("float32")
    y = (rng.random((4, 6, 6, 5, 3)) > 0.5).astype("float32")
    history = model.fit(x, y, epochs=1, batch_size=2, verbose=0)
    assert {"dice_mean", "dice_WT", "dice_TC", "dice_ET"} <= set(history.history)
    logs = model.evaluate(x, y, batch_size=2, return_dict=True, verbose=0)
    predicted = keras.ops.convert_to_numpy(model.predict(x, verbose=0)) > 0
    assert logs["dice_WT"] == pytest.approx(dice(predicted[..., 0], y[..., 0]), rel=1e-5)
    model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    restored_logs = restored.evaluate(x, y, batch_size=2, return_dict=True, verbose=0)
    assert restored_logs["dice_TC"] == pytest.approx(logs["dice_TC"], rel=1e-6)


@pytest.mark.parametrize("name", ["dice", "iou", "sensitivity", "specificity"])
def test_registered_metrics_round_trip_their_config(name):
    metric = METRICS.create(
        name, num_channels=4, activation="softmax", include_background=True, channel=0
    )
    config = keras.saving.serialize_keras_object(metric)
    restored = keras.saving.deserialize_keras_object(config)
    assert restored.get_config() == metric.get_config()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_channels": 0}, "num_channels"),
        ({"num_channels": 3, "activation": "softmx"}, "Did you mean 'softmax'"),
        ({"num_channels": 3, "mode": "max"}, "Did you mean 'argmax'"),
        ({"num_channels": 1, "activation": "softmax"}, "at least two channels"),
        ({"num_channels": 3, "threshold": 1.0}, "threshold"),
        ({"num_channels": 3, "activation": "softmax", "channel": 0}, "channel 0 is not scored"),
        ({"num_channels": 3, "channel": 3}, "channel 3 is not scored"),
    ],
)
def test_invalid_options(arguments, message):
    with pytest.raises(ConfigError, match=message):
        DiceMetric(**arguments)


def test_channel_count_mismatch_is_refused():
    metric = DiceMetric(num_channels=3)
    with pytest.raises(ConfigError, match="built for 3 channels"):
        metric.update_state(np.zeros((1, 4, 4, 2)), np.zeros((1, 4, 4, 2), "float32"))


def test_the_former_mode_option_is_still_read():
    # Models saved before the vocabulary was unified have "mode" in their metric config.
    metric = DiceMetric(num_channels=4, mode="argmax")
    assert metric.activation == "softmax"
    assert "mode" not in metric.get_config()
    assert DiceMetric.from_config({"num_channels": 3, "mode": "threshold"}).activation == "sigmoid"
