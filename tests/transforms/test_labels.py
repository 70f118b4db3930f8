from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis.extra.numpy import arrays
from hypothesis.strategies import sampled_from

from unetseg.errors import ConfigError, DataError
from unetseg.transforms import (
    AsDiscrete,
    ConvertBratsLabels,
    ConvertBratsLabelsd,
    OneHot,
    RegionsToBratsLabels,
)


@given(arrays(np.uint8, (4, 3, 2, 1), elements=sampled_from([0, 1, 2, 4])))
def test_brats_label_round_trip_is_exact(labels):
    regions = ConvertBratsLabels()(labels)
    assert regions.shape == (4, 3, 2, 3)
    np.testing.assert_array_equal(RegionsToBratsLabels()(regions), labels)


def test_probabilities_are_thresholded_before_conversion():
    probabilities = np.array([[0.9, 0.8, 0.7], [0.9, 0.2, 0.1], [0.1, 0.1, 0.1]])
    assert RegionsToBratsLabels(threshold=0.5)(probabilities).ravel().tolist() == [4, 2, 0]


def test_label_three_is_named():
    with pytest.raises(DataError, match=r"ConvertBratsLabels: the label map contains labels \[3\]"):
        ConvertBratsLabelsd("label")({"label": np.array([[0], [3]])})


def test_as_discrete():
    scores = np.array([[0.2, 0.7], [0.6, 0.1]])
    np.testing.assert_array_equal(AsDiscrete(threshold=0.5)(scores), [[0, 1], [1, 0]])
    np.testing.assert_array_equal(AsDiscrete(argmax=True)(scores).ravel(), [1, 0])
    with pytest.raises(ConfigError, match="exactly one"):
        AsDiscrete()


def test_one_hot():
    out = OneHot(num_classes=3)(np.array([[0], [2], [1]]))
    np.testing.assert_array_equal(out, np.eye(3, dtype=np.uint8)[[0, 2, 1]])
    with pytest.raises(DataError, match=r"labels \[4\] lie outside \[0, 3\)"):
        OneHot(num_classes=3)(np.array([0, 4]))
