"""Losses inside Keras: training lowers them, and compiled models save and load."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from unetseg.losses import LOSSES, Combined, DiceCE, Focal

pytestmark = pytest.mark.backends

TRAINABLE = {
    "dice": {},
    "generalized_dice": {},
    "tversky": {"alpha": 0.3, "beta": 0.7},
    "focal_tversky": {},
    "ce": {},
    "focal": {"alpha": 0.25},
    "dice_ce": {},
    "dice_focal": {},
    "combined": {"losses": ["dice", ("focal", {"gamma": 1.0})], "weights": [1.0, 2.0]},
}


def tiny_model(channels: int) -> keras.Model:
    inputs = keras.Input((8, 8, 2))
    x = keras.layers.Conv2D(4, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Conv2D(channels, 1)(x))


def data(channels: int = 3):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 8, 8, 2)).astype("float32")
    thresholds = np.array([-0.5, 0.0, 0.5][:channels], "float32")
    y = (x[..., :1] > thresholds).astype("float32")
    return x, y


@pytest.mark.parametrize("name", sorted(TRAINABLE))
def test_gradient_steps_lower_the_loss(name):
    keras.utils.set_random_seed(0)
    model = tiny_model(3)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=LOSSES.create(name, **TRAINABLE[name]))
    x, y = data()
    before = model.evaluate(x, y, verbose=0)
    model.fit(x, y, epochs=5, batch_size=4, verbose=0)
    after = model.evaluate(x, y, verbose=0)
    assert np.isfinite(after)
    assert after < before


def test_softmax_loss_trains_on_integer_labels():
    keras.utils.set_random_seed(0)
    model = tiny_model(4)
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss=DiceCE(activation="softmax"))
    x, _ = data()
    labels = np.digitize(x[..., 0], [-0.5, 0.0, 0.5]).astype("int32")
    before = model.evaluate(x, labels, verbose=0)
    model.fit(x, labels, epochs=5, batch_size=4, verbose=0)
    assert model.evaluate(x, labels, verbose=0) < before


@pytest.mark.parametrize(
    ("loss", "integer_labels"),
    [
        (DiceCE(activation="softmax", include_background=True, batch=True, lambda_ce=0.5), True),
        (Focal(activation="softmax", alpha=[0.1, 0.3, 0.6], gamma=1.5), True),
        (Combined([("tversky", {"beta": 0.8}), "ce"], weights=[0.7, 0.3]), False),
    ],
    ids=["dice_ce", "focal", "combined"],
)
def test_compiled_model_saves_and_loads_with_its_loss(loss, integer_labels, tmp_path):
    keras.utils.set_random_seed(0)
    model = tiny_model(3)
    model.compile(optimizer="adam", loss=loss)
    x, y = data()
    labels = y.sum(-1).astype("int32") % 3 if integer_labels else y
    model.fit(x, labels, epochs=1, verbose=0)  # builds the optimizer state that is saved too
    expected = model.evaluate(x, labels, verbose=0)
    model.save(tmp_path / "model.keras")
    restored = keras.models.load_model(tmp_path / "model.keras", safe_mode=True)
    assert type(restored.loss) is type(loss)
    assert restored.loss.get_config() == loss.get_config()
    assert restored.evaluate(x, labels, verbose=0) == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("name", LOSSES.names())
def test_every_registered_loss_round_trips_through_its_config(name):
    arguments = {"combined": {"losses": ["dice", "ce"]}}.get(name, {})
    loss = LOSSES.create(name, **arguments)
    config = keras.saving.serialize_keras_object(loss)
    assert config["registered_name"] == f"unetseg>{type(loss).__name__}"
    restored = keras.saving.deserialize_keras_object(config)
    assert restored.get_config() == loss.get_config()
