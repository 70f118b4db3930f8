"""Every loss against values computed by hand on a four-voxel example.

The example: one sample, four voxels along one spatial axis, target
``g = [1, 1, 0, 0]`` and probabilities ``p = [0.8, 0.6, 0.2, 0.0]``. Then
``Σpg = 1.4``, ``Σp = 1.6``, ``Σg = 2``, ``Σp² = 1.04``, and the per-voxel
probability of the true class is ``p_t = [0.8, 0.6, 0.8, 1.0]``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from unetseg.losses import (
    Combined,
    CrossEntropy,
    Dice,
    DiceCE,
    DiceFocal,
    Focal,
    FocalTversky,
    GeneralizedDice,
    Tversky,
)

pytestmark = pytest.mark.backends

G = np.array([1, 1, 0, 0], "float32").reshape(1, 4, 1)
P = np.array([0.8, 0.6, 0.2, 0.0], "float32").reshape(1, 4, 1)
LABELS = np.array([[1, 1, 0, 0]], "int32")  # (N, spatial) integer labels
P_SOFTMAX = np.concatenate([1.0 - P, P], axis=-1)  # background, foreground
P_T = [0.8, 0.6, 0.8, 1.0]
DICE_LOSS = 1 - 2 * 1.4 / (1.6 + 2)  # 0.2222
CE = -sum(math.log(p) for p in P_T) / 4  # 0.2393


def value(loss, y_true, y_pred):
    return float(loss(y_true, y_pred))


def test_dice():
    assert value(Dice(from_logits=False), G, P) == pytest.approx(DICE_LOSS, abs=1e-5)


def test_dice_squared_denominator():
    expected = 1 - 2 * 1.4 / (1.04 + 2)
    assert value(Dice(from_logits=False, squared_pred=True), G, P) == pytest.approx(
        expected, abs=1e-5
    )


def test_dice_softmax_excludes_background_by_default():
    loss = Dice(activation="softmax", from_logits=False)
    assert value(loss, LABELS, P_SOFTMAX) == pytest.approx(DICE_LOSS, abs=1e-5)


def test_dice_softmax_with_background_and_class_weights():
    background = 1 - 2 * 1.8 / (2.4 + 2)  # p0 = [.2, .4, .8, 1], g0 = [0, 0, 1, 1]
    both = Dice(activation="softmax", from_logits=False, include_background=True)
    assert value(both, LABELS, P_SOFTMAX) == pytest.approx((background + DICE_LOSS) / 2, abs=1e-5)
    weighted = Dice(
        activation="softmax", from_logits=False, include_background=True, class_weights=[1, 3]
    )
    expected = (background + 3 * DICE_LOSS) / 4
    assert value(weighted, LABELS, P_SOFTMAX) == pytest.approx(expected, abs=1e-5)


def test_dice_batch_pools_samples():
    # Second sample: empty target, p = [0.5, 0, 0, 0].
    g = np.concatenate([G, np.zeros_like(G)])
    p = np.concatenate([P, np.array([0.5, 0, 0, 0], "float32").reshape(1, 4, 1)])
    per_sample = (DICE_LOSS + 1.0) / 2
    assert value(Dice(from_logits=False), g, p) == pytest.approx(per_sample, abs=1e-4)
    pooled = 1 - 2 * 1.4 / (2.1 + 2)
    assert value(Dice(from_logits=False, batch=True), g, p) == pytest.approx(pooled, abs=1e-5)


def test_generalized_dice():
    # Channel 0 as above; channel 1: g = [1, 0, 0, 0], p = [0.5, 0.5, 0, 0].
    g = np.concatenate([G, np.array([1, 0, 0, 0], "float32").reshape(1, 4, 1)], axis=-1)
    p = np.concatenate([P, np.array([0.5, 0.5, 0, 0], "float32").reshape(1, 4, 1)], axis=-1)
    w0, w1 = 1 / 2**2, 1 / 1**2
    expected = 1 - 2 * (w0 * 1.4 + w1 * 0.5) / (w0 * 3.6 + w1 * 2.0)
    assert value(GeneralizedDice(from_logits=False), g, p) == pytest.approx(expected, abs=1e-5)
    uniform = 1 - 2 * (1.4 + 0.5) / (3.6 + 2.0)
    loss = GeneralizedDice(from_logits=False, weight_type="uniform")
    assert value(loss, g, p) == pytest.approx(uniform, abs=1e-5)


def test_tversky_and_focal_tversky():
    tp, fp, fn = 1.4, 1.6 - 1.4, 2.0 - 1.4
    index = tp / (tp + 0.3 * fp + 0.7 * fn)
    tversky = Tversky(from_logits=False, alpha=0.3, beta=0.7)
    assert value(tversky, G, P) == pytest.approx(1 - index, abs=1e-5)
    focal = FocalTversky(from_logits=False, alpha=0.3, beta=0.7, gamma=0.75)
    assert value(focal, G, P) == pytest.approx((1 - index) ** 0.75, abs=1e-5)


def test_tversky_with_equal_weights_is_dice():
    assert value(Tversky(from_logits=False), G, P) == pytest.approx(DICE_LOSS, abs=1e-5)


def test_binary_cross_entropy():
    assert value(CrossEntropy(from_logits=False), G, P) == pytest.approx(CE, abs=1e-5)


def test_categorical_cross_entropy_on_labels():
    loss = CrossEntropy(activation="softmax", from_logits=False)
    assert value(loss, LABELS, P_SOFTMAX) == pytest.approx(CE, abs=1e-5)


def test_focal():
    per_voxel = [-((1 - p) ** 2) * math.log(p) for p in P_T]
    assert value(Focal(from_logits=False), G, P) == pytest.approx(sum(per_voxel) / 4, abs=1e-6)
    alpha = [0.25, 0.25, 0.75, 0.75]  # alpha for positives, 1 - alpha for negatives
    balanced = sum(a * v for a, v in zip(alpha, per_voxel, strict=True)) / 4
    assert value(Focal(from_logits=False, alpha=0.25), G, P) == pytest.approx(balanced, abs=1e-6)


def test_focal_softmax_matches_sigmoid_on_two_classes():
    per_voxel = [-((1 - p) ** 2) * math.log(p) for p in P_T]
    loss = Focal(activation="softmax", from_logits=False)
    assert value(loss, LABELS, P_SOFTMAX) == pytest.approx(sum(per_voxel) / 4, abs=1e-6)


def test_focal_with_gamma_zero_is_cross_entropy():
    assert value(Focal(from_logits=False, gamma=0), G, P) == pytest.approx(CE, abs=1e-5)


def test_dice_ce_and_dice_focal():
    assert value(DiceCE(from_logits=False), G, P) == pytest.approx(DICE_LOSS + CE, abs=1e-5)
    weighted = DiceCE(from_logits=False, lambda_dice=0.5, lambda_ce=2.0)
    assert value(weighted, G, P) == pytest.approx(0.5 * DICE_LOSS + 2 * CE, abs=1e-5)
    focal = sum(-((1 - p) ** 2) * math.log(p) for p in P_T) / 4
    assert value(DiceFocal(from_logits=False), G, P) == pytest.approx(DICE_LOSS + focal, abs=1e-5)


def test_combined_by_name_and_instance():
    loss = Combined(
        [("dice", {"from_logits": False}), CrossEntropy(from_logits=False)], weights=[1.0, 0.5]
    )
    assert value(loss, G, P) == pytest.approx(DICE_LOSS + 0.5 * CE, abs=1e-5)


@pytest.mark.parametrize(
    "loss_class", [Dice, GeneralizedDice, Tversky, FocalTversky, CrossEntropy, Focal, DiceCE]
)
def test_logits_and_probabilities_agree(loss_class):
    rng = np.random.default_rng(1)
    logits = rng.normal(size=(2, 5, 5, 3)).astype("float32")
    target = (rng.random((2, 5, 5, 3)) > 0.5).astype("float32")
    probabilities = 1 / (1 + np.exp(-logits))
    from_logits = value(loss_class(), target, logits)
    from_probabilities = value(loss_class(from_logits=False), target, probabilities)
    assert from_logits == pytest.approx(from_probabilities, rel=1e-4, abs=1e-5)
