from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays

from unetseg.errors import DataError
from unetseg.metrics import (
    VOLUME_METRICS,
    confusion_counts,
    dice,
    iou,
    sensitivity,
    specificity,
)


@st.composite
def mask_pairs(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=8))
    first = draw(arrays(np.bool_, shape))
    second = draw(arrays(np.bool_, shape))
    return first, second


@given(mask_pairs())
def test_dice_is_in_unit_interval_and_symmetric(pair):
    a, b = pair
    value = dice(a, b)
    assert 0.0 <= value <= 1.0
    assert value == dice(b, a)


@given(arrays(np.bool_, array_shapes(min_dims=1, max_dims=3, max_side=8)))
def test_dice_of_identical_masks_is_one(mask):
    assert dice(mask, mask) == 1.0
    assert iou(mask, mask) == 1.0


@given(mask_pairs())
def test_dice_and_iou_are_related(pair):
    a, b = pair
    j = iou(a, b)
    assert dice(a, b) == pytest.approx(2 * j / (1 + j))


@given(mask_pairs())
def test_counts_add_up(pair):
    counts = confusion_counts(*pair)
    assert sum(counts) == pair[0].size
    assert counts.true_positive + counts.false_positive == np.count_nonzero(pair[0])


def test_hand_computed_values():
    prediction = [1, 1, 1, 0, 0, 0, 0, 0]
    truth = [1, 1, 0, 1, 0, 0, 0, 0]  # TP 2, FP 1, FN 1, TN 4
    assert dice(prediction, truth) == pytest.approx(4 / 6)
    assert iou(prediction, truth) == pytest.approx(2 / 4)
    assert sensitivity(prediction, truth) == pytest.approx(2 / 3)
    assert specificity(prediction, truth) == pytest.approx(4 / 5)


def test_empty_mask_rules():
    empty = np.zeros((4, 4), bool)
    full = np.ones((4, 4), bool)
    assert dice(empty, empty) == 1.0
    assert dice(full, empty) == 0.0
    assert dice(empty, full) == 0.0
    assert iou(empty, empty) == 1.0
    assert math.isnan(sensitivity(empty, empty))  # no positive voxel to find
    assert math.isnan(specificity(full, full))  # no negative voxel
    assert sensitivity(empty, full) == 0.0


def test_shape_mismatch_names_both_shapes():
    with pytest.raises(DataError, match=r"\(4, 4\) does not match truth shape \(4, 5\)"):
        dice(np.zeros((4, 4)), np.zeros((4, 5)))


def test_volume_metrics_are_registered():
    assert {"dice", "hd95", "iou", "sensitivity", "specificity"} <= set(VOLUME_METRICS.names())
    assert VOLUME_METRICS.get("dice") is dice
