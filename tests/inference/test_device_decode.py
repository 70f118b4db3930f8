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

    class Called(LabelMapPostprocess):
        def __call__(self, probabilities, meta=None):
            return super().__call__(probabilities * 2, meta)

    class Refined(LabelMapPostprocess):
        def refine(self, labels):
            return labels

    assert not Custom(BRATS_REGIONS).decodes_first({"applied": [crop]})
    assert not Called(BRATS_REGIONS).decodes_first({"applied": [crop]})
    assert Refined(BRATS_REGIONS).decodes_first({"applied": [crop]})
    labels = np.array([4, 2], np.uint8)
    assert post.from_labels(labels, {"applied": [crop]}).tolist() == [0, 4, 2, 0]


AFFINE = np.array([[-1.0, 0, 0, 120.0], [0, 0, 1.5, -100.0], [0, 1.0, 0, -80.0], [0, 0, 0, 1]])


@pytest.fixture(scope="module")
def nifti_case(tmp_path_factory):
    """Four random modalities inside a box-shaped brain, on a non-canonical grid."""
    import nibabel as nib

    folder = tmp_path_factory.mktemp("case")
    rng = np.random.default_rng(0)
    brain = np.zeros((30, 27, 22), bool)
    brain[4:27, 3:25, 2:20] = True
    paths = []
    for index in range(4):
        data = np.where(brain, rng.normal(size=brain.shape), 0).astype(np.float32)
        path = folder / f"case_{index}.nii.gz"
        nib.save(nib.Nifti1Image(data, AFFINE), str(path))
        paths.append(str(path))
    return {"id": "case", "image": paths}


@pytest.mark.parametrize(
    ("canonical", "extra", "task", "outside", "ensemble"),
    [
        (False, "pad", BRATS_REGIONS, True, False),
        (True, "flip_rot", BRATS_REGIONS, False, True),
        (True, "pad_value", BRATS_CLASSES, True, False),
        (False, "flip_rot", BRATS_CLASSES, False, False),
    ],
)
def test_the_predictor_decoding_on_the_device_equals_decoding_on_the_source_grid(
    nifti_case, canonical, extra, task, outside, ensemble
):
    from unetseg.inference import (
        BratsPostprocess,
        Ensemble,
        Predictor,
        background_outside_input,
    )
    from unetseg.transforms import (
        Compose,
        CropForegroundd,
        LoadImaged,
        RandFlipd,
        RandRotate90d,
        SpatialPadd,
    )

    steps = [LoadImaged("image", as_closest_canonical=canonical), CropForegroundd("image")]
    if extra == "pad":
        steps.append(SpatialPadd("image", (40, 20, 33)))
    if extra == "pad_value":
        steps.append(SpatialPadd("image", 36, value=-1.0))
    if extra == "flip_rot":  # certain, so that both ways record the same operations
        steps += [
            RandFlipd("image", prob=1.0, spatial_axis=[0, 2]),
            RandRotate90d("image", prob=1.0, max_k=1, spatial_axes=(0, 1)),
        ]

    def network(seed):
        keras.utils.set_random_seed(seed)
        inputs = keras.Input((None, None, None, 4))
        hidden = keras.layers.Conv3D(4, 3, padding="same", activation="relu")(inputs)
        return keras.Model(
            inputs, keras.layers.Conv3D(task.out_channels, 3, padding="same")(hidden) * 3.0
        )

    if ensemble:
        model, activation = Ensemble([network(1), network(2)], task.activation), None
    else:
        model, activation = network(1), task.activation
    if task is BRATS_REGIONS:
        post = BratsPostprocess(0.3, min_enhancing_voxels=5)
    else:
        post = LabelMapPostprocess(task, largest_component=["ET"])
    inferer = SlidingWindowInferer((16, 16, 16), blending="device", activation=activation)
    predictor = Predictor(model, inferer, Compose(steps), post, outside_is_background=outside)
    labels, meta = predictor.predict_record(nifti_case)
    assert predictor.decodes_on_device(meta)
    # the probabilities brought back and decoded on the source grid, as before
    prepared = predictor.preprocess(dict(nifti_case))
    image, meta = prepared["image"], prepared["image_meta"]
    probabilities = inferer(model, image)
    if outside:
        background_outside_input(probabilities, image)
    expected = predictor.background_on_source(post(probabilities, meta), meta)
    np.testing.assert_array_equal(labels, expected)
    assert len(np.unique(expected)) > 1
