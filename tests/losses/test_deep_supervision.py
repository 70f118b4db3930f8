from __future__ import annotations

import keras
import numpy as np
import pytest

from unetseg.errors import ConfigError, DataError
from unetseg.losses import (
    DeepSupervision,
    Dice,
    HeadLoss,
    deep_supervision_weights,
    downsample_target,
)

pytestmark = pytest.mark.backends


def test_nnunet_weights():
    assert deep_supervision_weights(1) == [1.0]
    weights = deep_supervision_weights(5)
    assert weights[-1] == 0.0
    assert sum(weights) == pytest.approx(1.0)
    raw = [1, 1 / 2, 1 / 4, 1 / 8]
    assert weights[:4] == pytest.approx([w / sum(raw) for w in raw])
    with pytest.raises(ConfigError):
        deep_supervision_weights(0)


def test_downsample_target_keeps_block_centres():
    target = np.arange(8 * 8).reshape(1, 8, 8, 1).astype("float32")
    down = keras.ops.convert_to_numpy(downsample_target(target, (4, 2)))
    np.testing.assert_array_equal(down[0, :, :, 0], target[0, 1::2, 2::4, 0])
    same = keras.ops.convert_to_numpy(downsample_target(target, (8, 8)))
    np.testing.assert_array_equal(same, target)


def test_downsample_target_keeps_one_hot_one_hot():
    labels = np.random.default_rng(0).integers(0, 3, size=(2, 8, 8, 8))
    one_hot = np.eye(3, dtype="float32")[labels]
    down = keras.ops.convert_to_numpy(downsample_target(one_hot, (2, 2, 2)))
    assert down.shape == (2, 2, 2, 2, 3)
    np.testing.assert_array_equal(down.sum(-1), 1.0)


def test_downsample_target_needs_whole_factors():
    with pytest.raises(DataError, match="spatial axis 1 is not a whole multiple"):
        downsample_target(np.zeros((1, 8, 9, 1)), (4, 4))


def test_deep_supervision_is_the_weighted_sum_over_heads():
    rng = np.random.default_rng(0)
    target = (rng.random((2, 8, 8, 3)) > 0.5).astype("float32")
    heads = [rng.normal(size=(2, s, s, 3)).astype("float32") for s in (8, 4, 2)]
    dice = Dice()
    expected = sum(
        w * float(dice(keras.ops.convert_to_numpy(downsample_target(target, h.shape[1:3])), h))
        for w, h in zip([0.5, 0.3, 0.2], heads, strict=True)
    )
    loss = DeepSupervision(dice, weights=[0.5, 0.3, 0.2])
    assert float(loss(target, heads)) == pytest.approx(expected, rel=1e-5)


def test_deep_supervision_weight_count_must_match_heads():
    loss = DeepSupervision("dice", weights=[0.5, 0.5])
    heads = [np.zeros((1, 4, 4, 1), "float32")] * 3
    with pytest.raises(ConfigError, match="2 weights for a model with 3 outputs"):
        loss(np.zeros((1, 4, 4, 1), "float32"), heads)


def test_compile_arguments_train_a_multi_output_model():
    keras.utils.set_random_seed(0)
    inputs = keras.Input((8, 8, 1))
    full = keras.layers.Conv2D(2, 3, padding="same")(inputs)
    half = keras.layers.Conv2D(2, 3, padding="same")(keras.layers.MaxPooling2D()(inputs))
    quarter = keras.layers.Conv2D(2, 3, padding="same")(keras.layers.MaxPooling2D(4)(inputs))
    model = keras.Model(inputs, [full, half, quarter])
    supervision = DeepSupervision("dice_ce")
    model.compile(optimizer=keras.optimizers.SGD(0.1), **supervision.compile_arguments(3))
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 8, 8, 1)).astype("float32")
    y = (x > 0).astype("float32").repeat(2, axis=-1)
    before = model.evaluate(x, (y, y, y), verbose=0)[0]
    direct = float(supervision(y, [keras.ops.convert_to_numpy(o) for o in model(x)]))
    assert before == pytest.approx(direct, rel=1e-4)
    model.fit(x, (y, y, y), epochs=5, batch_size=4, verbose=0)
    assert model.evaluate(x, (y, y, y), verbose=0)[0] < before
    assert isinstance(model.loss[0], HeadLoss)
