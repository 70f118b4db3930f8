"""2D slices of volumes, as the original notebook prepared them, and back."""

from __future__ import annotations

import numpy as np
import pytest

from unetseg.data.slices import (
    SliceDataset,
    classes_to_labels,
    labels_to_classes,
    slices_to_volume,
    volume_slices,
)
from unetseg.errors import ConfigError, DataError


def test_labels_and_classes_round_trip(tumour_labels):
    classes = labels_to_classes(tumour_labels)
    assert set(np.unique(classes)) == {0, 1, 2, 3}
    np.testing.assert_array_equal(classes_to_labels(classes), tumour_labels)
    with pytest.raises(DataError, match=r"\[3\]"):
        labels_to_classes(np.array([0, 3]))


def test_volume_slices_select_resize_scale_and_one_hot(tumour_labels):
    rng = np.random.default_rng(0)
    image = rng.uniform(0, 500, size=(*tumour_labels.shape, 4)).astype(np.float32)
    images, targets = volume_slices(
        image, tumour_labels, slice_range=(4, 20), size=(16, 16), channels=[0, 2]
    )
    assert images.shape == (16, 16, 16, 2)
    assert targets.shape == (16, 16, 16, 4)
    assert images.max() == pytest.approx(1.0)
    np.testing.assert_array_equal(targets.sum(axis=-1), 1.0)
    # Same size: the slices are the volume's own, labels exactly.
    same, one_hot = volume_slices(
        image, tumour_labels, slice_range=(4, 20), size=(32, 32), channels=[1]
    )
    stack = np.moveaxis(image[:, :, 4:20, 1], 2, 0)
    np.testing.assert_allclose(same[..., 0], stack / stack.max(), rtol=1e-5)
    back = slices_to_volume(one_hot.argmax(axis=-1), tumour_labels.shape, (4, 20))
    np.testing.assert_array_equal(back[:, :, 4:20], tumour_labels[:, :, 4:20])
    assert not back[:, :, :4].any()
    with pytest.raises(ConfigError, match="slice_range"):
        volume_slices(image, None, slice_range=(10, 40), size=(16, 16), channels=[0])


def test_slice_dataset_batches_are_deterministic_shuffles():
    images = np.arange(10, dtype=np.float32).reshape(10, 1, 1, 1) * np.ones((1, 4, 4, 2))
    targets = np.zeros((10, 4, 4, 4), np.float32)
    data = SliceDataset(images, targets, batch_size=4, seed=3)
    assert len(data) == 3
    first = np.concatenate([data[i][0][:, 0, 0, 0] for i in range(3)])
    assert sorted(first) == list(range(10))
    again = SliceDataset(images, targets, batch_size=4, seed=3)
    np.testing.assert_array_equal(again[1][0], data[1][0])
    data.on_epoch_end()
    second = np.concatenate([data[i][0][:, 0, 0, 0] for i in range(3)])
    assert sorted(second) == list(range(10))
    assert data.patch_size == [4, 4]
    with pytest.raises(ConfigError):
        SliceDataset(images, targets[:3])
