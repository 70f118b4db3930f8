"""Properties every loss must have, checked with generated masks."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from unetseg.losses import LOSSES

pytestmark = pytest.mark.backends

# Losses that need no constructor argument and take one tensor as prediction.
SIMPLE = [
    "dice",
    "generalized_dice",
    "tversky",
    "focal_tversky",
    "ce",
    "focal",
    "dice_ce",
    "dice_focal",
]

masks = arrays(np.bool_, (1, 6, 6, 2), elements=st.booleans()).filter(lambda m: m.any())


def perfect_logits(mask: np.ndarray) -> np.ndarray:
    return np.where(mask, 30.0, -30.0).astype("float32")


@pytest.mark.parametrize("name", SIMPLE)
@settings(max_examples=15)
@given(mask=masks)
def test_loss_is_minimal_at_a_perfect_prediction(name, mask):
    loss = LOSSES.create(name)
    target = mask.astype("float32")
    assert float(loss(target, perfect_logits(mask))) == pytest.approx(0.0, abs=1e-3)


@pytest.mark.parametrize("name", SIMPLE)
@settings(max_examples=15)
@given(mask=masks, seed=st.integers(0, 2**16))
def test_loss_grows_as_overlap_shrinks(name, mask, seed):
    """Removing predicted foreground voxels one at a time never lowers the loss.

    Sample k of the batch is the perfect prediction with k foreground voxels
    removed; with no reduction the loss returns one value per sample.
    """
    loss = LOSSES.create(name, from_logits=False, reduction=None)
    target = mask.astype("float32")
    foreground = np.argwhere(mask[0])
    order = np.random.default_rng(seed).permutation(len(foreground))
    predictions = np.repeat(target, len(foreground) + 1, axis=0)
    for k in range(1, len(foreground) + 1):
        predictions[k:][(slice(None), *foreground[order[k - 1]])] = 0.0
    values = keras.ops.convert_to_numpy(
        loss(np.repeat(target, len(predictions), axis=0), predictions)
    )
    assert np.all(np.diff(values) >= -1e-6)
    assert values[-1] > values[0]


@pytest.mark.parametrize("name", ["dice", "generalized_dice", "tversky"])
def test_overlap_losses_lie_in_unit_interval(name):
    rng = np.random.default_rng(0)
    loss = LOSSES.create(name)
    for _ in range(5):
        target = (rng.random((2, 4, 4, 4, 3)) > 0.7).astype("float32")
        logits = rng.normal(scale=3.0, size=target.shape).astype("float32")
        assert 0.0 <= float(loss(target, logits)) <= 1.0
