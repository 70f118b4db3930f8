from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis.extra.numpy import arrays
from hypothesis.strategies import sampled_from

from unetseg.errors import DataError
from unetseg.regions import BRATS_REGIONS, labels_to_regions, regions_to_labels

label_maps = arrays(np.uint8, (5, 4, 3), elements=sampled_from([0, 1, 2, 4]))


@given(label_maps)
def test_labels_round_trip_through_regions(labels):
    np.testing.assert_array_equal(regions_to_labels(labels_to_regions(labels)), labels)


@given(label_maps)
def test_regions_are_nested(labels):
    regions = labels_to_regions(labels).astype(bool)
    wt, tc, et = regions[..., 0], regions[..., 1], regions[..., 2]
    assert not np.any(et & ~tc)
    assert not np.any(tc & ~wt)


def test_region_definitions():
    assert BRATS_REGIONS == {"WT": (1, 2, 4), "TC": (1, 4), "ET": (4,)}
    regions = labels_to_regions(np.array([[0, 1, 2, 4]]))
    assert regions.dtype == np.uint8
    np.testing.assert_array_equal(regions[0, :, 0], [0, 1, 1, 1])
    np.testing.assert_array_equal(regions[0, :, 1], [0, 1, 0, 1])
    np.testing.assert_array_equal(regions[0, :, 2], [0, 0, 0, 1])


def test_trailing_channel_axis_and_float_labels_are_accepted():
    labels = np.array([0.0, 1.0, 2.0, 4.0]).reshape(2, 2, 1)
    assert labels_to_regions(labels).shape == (2, 2, 3)


def test_innermost_region_wins_when_regions_are_not_nested():
    regions = np.zeros((1, 3), np.uint8)
    regions[0, 2] = 1  # ET alone, outside WT and TC
    assert regions_to_labels(regions).tolist() == [4]


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.array([0, 3]), r"labels \[3\]"),
        (np.array([0.5, 1.0]), "whole-number"),
        (np.array(["a"]), "integer label map"),
    ],
)
def test_invalid_label_maps(labels, message):
    with pytest.raises(DataError, match=message):
        labels_to_regions(labels, where="case 7")


def test_regions_need_three_channels():
    with pytest.raises(DataError, match="WT, TC, ET"):
        regions_to_labels(np.zeros((4, 4, 2)))
