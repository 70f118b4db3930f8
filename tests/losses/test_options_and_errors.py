from __future__ import annotations

import numpy as np
import pytest

from unetseg.errors import ConfigError, DataError, UnknownNameError
from unetseg.losses import (
    LOSSES,
    Combined,
    CrossEntropy,
    DeepSupervision,
    Dice,
    DiceCE,
    Focal,
    FocalTversky,
    GeneralizedDice,
    Tversky,
    build_loss,
)

pytestmark = pytest.mark.backends


def test_every_loss_is_registered():
    assert LOSSES.names() == [
        "ce",
        "combined",
        "cross_entropy",
        "deep_supervision",
        "dice",
        "dice_ce",
        "dice_focal",
        "focal",
        "focal_tversky",
        "generalized_dice",
        "head_loss",
        "tversky",
    ]


def test_unknown_loss_name_suggests_the_right_one():
    with pytest.raises(UnknownNameError, match="Did you mean 'dice_ce'"):
        LOSSES.create("dice-cee")


def test_wrong_option_names_the_loss_and_option():
    with pytest.raises(ConfigError, match=r"dice.*smoth"):
        LOSSES.create("dice", smoth=1.0)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: Dice(activation="softmx"), "Did you mean 'softmax'"),
        (lambda: Dice(smooth_nr=-1), "smooth_nr"),
        (lambda: Dice(class_weights=[-1, 2]), "class_weights"),
        (lambda: GeneralizedDice(weight_type="cube"), "weight_type"),
        (lambda: GeneralizedDice(class_weights=[1, 2]), "class_weights"),
        (lambda: Tversky(alpha=0, beta=0), "alpha and beta"),
        (lambda: FocalTversky(gamma=0), "gamma"),
        (lambda: Focal(gamma=-1), "gamma"),
        (lambda: Focal(alpha=1.5), "alpha"),
        (lambda: Focal(alpha=[0.2, 0.8]), "activation='softmax'"),
        (lambda: Focal(alpha=0.25, activation="softmax"), "weight per class"),
        (lambda: CrossEntropy(include_background=False), "include_background"),
        (lambda: CrossEntropy(label_smoothing=1.0), "label_smoothing"),
        (lambda: Combined("dice"), "non-empty list"),
        (lambda: Combined(["dice", "ce"], weights=[1.0]), "2 losses were given with 1 weights"),
        (lambda: DeepSupervision("dice", weights=[-1.0]), "weights"),
        (lambda: build_loss(42), "name or a \\(name, kwargs\\) pair"),
    ],
)
def test_invalid_options_are_refused_with_a_message(factory, message):
    with pytest.raises(ConfigError, match=message):
        factory()


def test_mismatched_shapes_state_both_shapes():
    target = np.zeros((2, 8, 8, 3), "float32")
    logits = np.zeros((2, 8, 7, 3), "float32")
    with pytest.raises(DataError) as info:
        Dice()(target, logits)
    assert "(2, 8, 8, 3)" in str(info.value)
    assert "(2, 8, 7, 3)" in str(info.value)


def test_sigmoid_does_not_accept_integer_labels():
    labels = np.zeros((2, 8, 8), "int32")
    with pytest.raises(DataError, match="sigmoid outputs"):
        Dice()(labels, np.zeros((2, 8, 8, 3), "float32"))


def test_softmax_over_one_channel_is_refused():
    with pytest.raises(ConfigError, match="softmax over a single channel"):
        Dice(activation="softmax")(np.zeros((1, 4, 4, 1)), np.zeros((1, 4, 4, 1), "float32"))


def test_class_weights_must_match_the_scored_channels():
    with pytest.raises(ConfigError, match="2 class_weights but scores 3 channels"):
        Dice(class_weights=[1, 2])(np.zeros((1, 4, 4, 3)), np.zeros((1, 4, 4, 3), "float32"))


@pytest.mark.parametrize("labels_shape", [(2, 6, 6), (2, 6, 6, 1)])
def test_softmax_accepts_labels_with_or_without_channel_axis(labels_shape):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, size=(2, 6, 6))
    one_hot = np.eye(4, dtype="float32")[labels]
    logits = rng.normal(size=(2, 6, 6, 4)).astype("float32")
    loss = DiceCE(activation="softmax")
    assert float(loss(labels.reshape(labels_shape), logits)) == pytest.approx(
        float(loss(one_hot, logits)), rel=1e-6
    )


def test_cross_entropy_kind_follows_activation_not_channel_count():
    """One channel with sigmoid is binary CE; two softmax channels are categorical CE —
    and a multi-channel sigmoid output stays binary per channel."""
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1, 4, 4, 3)).astype("float32")
    target = (rng.random((1, 4, 4, 3)) > 0.5).astype("float32")
    p = 1 / (1 + np.exp(-logits))
    binary = -(target * np.log(p) + (1 - target) * np.log(1 - p)).mean()
    assert float(CrossEntropy(activation="sigmoid")(target, logits)) == pytest.approx(
        binary, rel=1e-5
    )
    softmax = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = target.argmax(-1)
    categorical = -np.log(np.take_along_axis(softmax, labels[..., None], -1)).mean()
    loss = CrossEntropy(activation="softmax")
    assert float(loss(labels, logits)) == pytest.approx(categorical, rel=1e-5)
