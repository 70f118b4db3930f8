from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from scipy import ndimage

from unetseg.errors import ConfigError, DataError
from unetseg.metrics import hausdorff_distance, hd95, image_diagonal, surface_voxels


def reference_hausdorff(prediction, truth, spacing, percentile):
    """The textbook computation: distance transforms of the whole grid."""
    structure = ndimage.generate_binary_structure(prediction.ndim, 1)
    p_surface = prediction & ~ndimage.binary_erosion(prediction, structure, border_value=0)
    t_surface = truth & ~ndimage.binary_erosion(truth, structure, border_value=0)
    forward = ndimage.distance_transform_edt(~t_surface, sampling=spacing)[p_surface]
    backward = ndimage.distance_transform_edt(~p_surface, sampling=spacing)[t_surface]
    return max(np.percentile(forward, percentile), np.percentile(backward, percentile))


masks = arrays(np.bool_, (7, 6, 5)).filter(lambda m: m.any())
spacings = st.tuples(*[st.sampled_from([0.5, 1.0, 1.5, 3.0])] * 3)


@settings(max_examples=40)
@given(masks, masks, spacings, st.sampled_from([95.0, 100.0]))
def test_matches_distance_transform_reference(prediction, truth, spacing, percentile):
    expected = reference_hausdorff(prediction, truth, spacing, percentile)
    actual = hausdorff_distance(prediction, truth, spacing, percentile=percentile)
    assert actual == pytest.approx(expected, abs=1e-9)


@given(masks, masks)
def test_hd95_is_symmetric(prediction, truth):
    assert hd95(prediction, truth) == hd95(truth, prediction)


@given(masks, spacings)
def test_hd95_of_identical_masks_is_zero(mask, spacing):
    assert hd95(mask, mask, spacing) == 0.0


@given(
    size=st.tuples(st.integers(3, 10), st.integers(3, 10), st.integers(3, 10)),
    axis=st.integers(0, 2),
    shift=st.integers(1, 2),
    spacing=spacings,
)
def test_box_shifted_by_k_voxels_gives_k_times_spacing(size, axis, shift, spacing):
    truth = np.zeros((16, 16, 16), bool)
    truth[2 : 2 + size[0], 2 : 2 + size[1], 2 : 2 + size[2]] = True
    prediction = np.roll(truth, shift, axis=axis)
    assert hd95(prediction, truth, spacing) == pytest.approx(shift * spacing[axis])


def test_empty_rules():
    empty = np.zeros((10, 10, 10), bool)
    mask = empty.copy()
    mask[2:5, 2:5, 2:5] = True
    assert hd95(empty, empty) == 0.0
    assert hd95(mask, empty) == pytest.approx(np.sqrt(300))  # the image diagonal
    assert hd95(empty, mask, empty_distance=373.13) == 373.13
    assert image_diagonal((240, 240, 155)) == pytest.approx(373.13, abs=5e-3)
    assert image_diagonal((10, 10), spacing=(2.0, 1.0)) == pytest.approx(np.sqrt(500))


def test_two_dimensional_masks():
    truth = np.zeros((20, 20), bool)
    truth[5:10, 5:10] = True
    assert hd95(np.roll(truth, 2, axis=1), truth, spacing=(1.0, 0.5)) == pytest.approx(1.0)


def test_surface_matches_erosion():
    rng = np.random.default_rng(0)
    mask = rng.random((12, 10, 8)) > 0.4
    structure = ndimage.generate_binary_structure(3, 1)
    expected = mask & ~ndimage.binary_erosion(mask, structure, border_value=0)
    np.testing.assert_array_equal(surface_voxels(mask), expected)


@pytest.mark.parametrize("spacing", [(1.0, 1.0), (1.0, -1.0, 1.0), (1.0, np.nan, 1.0), "x"])
def test_invalid_spacing_is_refused(spacing):
    mask = np.ones((3, 3, 3), bool)
    with pytest.raises(DataError, match="Voxel spacing must be 3 positive numbers"):
        hd95(mask, np.roll(mask, 1, 0) | mask, spacing)


def test_invalid_percentile_is_refused():
    with pytest.raises(ConfigError, match="percentile"):
        hausdorff_distance(np.ones((2, 2)), np.ones((2, 2)), percentile=0)
