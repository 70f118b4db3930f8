"""Label maps decoded on the device equal Task.decode on the host, on every backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from unetseg.errors import ConfigError, DataError
from unetseg.inference import LabelMapPostprocess, SlidingWindowInferer
from unetseg.inference.device_decode import decode_labels
from unetseg.task import BRATS_CLASSES, BRATS_REGIONS, Task

pytestmark = pytest.mark.backends

LESIONS = Task.classes("lesions", {"background": 0, "small": 3, "large": 7})


@pytest.mark.parametrize("task", [BRATS_REGIONS, BRATS_CLASSES, LESIONS], ids=lambda t: t.name)
@pytest.mark.parametrize("threshold", [0.5, 0.3])
def test_decode_on_the_device_equals_task_decode(task, threshold):
    rng = np.random.default_rng(0)
    probabilities = rng.uniform(size=(2, 9, 7, 5, task.out_channels)).astype(np.float32)
    probabilities[0, 0, 0, 0] = threshold  # exactly at the threshold: not in the region
    labels = decode_labels(keras.ops.convert_to_tensor(probabilities), task, threshold)
    expected = task.decode(probabilities, threshold)
    assert keras.ops.convert_to_numpy(labels).dtype == np.uint8
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(labels), expected)
    assert len(np.unique(expected)) > 2  # several labels painted, not only background


def test_empty_voxels_are_background_and_bad_input_is_named():
    probabilities = np.full((4, 3), 0.9, np.float32)
    empty = keras.ops.convert_to_tensor(np.array([False, True, False, True]))
    labels = keras.ops.convert_to_numpy(decode_labels(probabilities, BRATS_REGIONS, empty=empty))
    assert labels.tolist() == [4, 0, 4, 0]
    with pytest.raises(DataError, match=r"brats_regions.*3 channels.*\(4, 2\)"):
        decode_labels(np.zeros((4, 2), np.float32), BRATS_REGIONS)
    with pytest.raises(ConfigError, match="threshold"):
        decode_labels(probabilities, BRATS_REGIONS, 1.5)


def _regions_model():
    """Three region logits from two channels: a small convolutional network."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((None, None, None, 2))
    hidden = keras.layers.Conv3D(4, 3, padding="same", activation="relu")(inputs)
    return keras.Model(inputs, keras.layers.Conv3D(3, 3, padding="same")(hidden) * 4.0)


@pytest.mark.parametrize("tta", [False, True])
def test_label_map_is_the_same_on_the_device_and_on_the_host(tta):
    model = _regions_model()
    image = np.random.default_rng(2).normal(size=(2, 19, 13, 11, 2)).astype(np.float32)
    image[0, :3] = 0.0  # empty input: background whatever the network says
    options = {"batch_size": 2, "tta": tta}
    device = SlidingWindowInferer((8, 8, 8), blending="device", **options)
    host = SlidingWindowInferer((8, 8, 8), blending="numpy", **options)
    labels = device.label_map(model, image, "brats_regions", background_where_empty=True)
    probabilities = host(model, image)
    expected = host.label_map(model, image, BRATS_REGIONS, background_where_empty=True)
    assert labels.shape == image.shape[:-1]
    assert labels.dtype == np.uint8
    assert not labels[0, :3].any()
    assert labels[0, 3:].any()
    # equal wherever the probabilities are not within float error of the threshold (a
    # zero input gives logits 0, probability 0.5, but is background on both paths)
    clear = (np.abs(probabilities - 0.5) > 1e-5).all(axis=-1) | ~(image != 0).any(axis=-1)
    np.testing.assert_array_equal(labels[clear], expected[clear])
    assert clear.mean() > 0.99
    single = device.label_map(model, image[1], BRATS_REGIONS)  # one image: no batch axis
    np.testing.assert_array_equal(single, labels[1])


def test_label_map_activates_logits_and_refuses_a_bad_threshold():
    model = _regions_model()
    image = np.random.default_rng(3).normal(size=(10, 9, 8, 2)).astype(np.float32)
    logits = SlidingWindowInferer((8, 8, 8), output="logits", blending="device")
    probabilities = SlidingWindowInferer((8, 8, 8), blending="numpy")(model, image)
    labels = logits.label_map(model, image, BRATS_REGIONS)
    clear = (np.abs(probabilities - 0.5) > 1e-5).all(axis=-1)
    np.testing.assert_array_equal(labels[clear], BRATS_REGIONS.decode(probabilities)[clear])
    with pytest.raises(ConfigError, match="threshold"):
        logits.label_map(model, image, BRATS_REGIONS, threshold=-0.1)


def test_decoding_first_is_offered_only_where_no_operation_interpolates():
    post = LabelMapPostprocess(BRATS_REGIONS)
    crop = {"kind": "crop", "box": [[1, 3]], "shape": [4]}
    assert post.decodes_first({"applied": [crop, {"kind": "flip", "axes": [0]}]})
    assert post.decodes_first({})
    assert not post.decodes_first({"applied": [crop, {"kind": "resample", "order": 1}]})
    assert not post.decodes_first({"applied": [{"kind": "a third party's", "order": 3}]})

    class Custom(LabelMapPostprocess):
        def labels(self, probabilities):
            return super().labels(probabilities * 2)

    assert not Custom(BRATS_REGIONS).decodes_first({"applied": [crop]})
    labels = np.array([4, 2], np.uint8)
    assert post.from_labels(labels, {"applied": [crop]}).tolist() == [0, 4, 2, 0]
