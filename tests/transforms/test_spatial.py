from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from unetseg.errors import ConfigError, DataError
from unetseg.transforms import (
    CenterSpatialCrop,
    CenterSpatialCropd,
    Compose,
    CropForeground,
    CropForegroundd,
    Invertd,
    RandCropByPosNegLabeld,
    RandFlipd,
    RandRotate90d,
    RandSpatialCropd,
    SpatialCrop,
    SpatialPad,
    SpatialPadd,
    crop_box,
    meta_key,
    uncrop_box,
)

volumes = arrays(
    np.float32,
    st.tuples(st.integers(1, 7), st.integers(1, 7), st.integers(1, 5), st.integers(1, 2)),
    elements=st.floats(-10, 10, width=32),
)


@st.composite
def volume_and_box(draw):
    volume = draw(volumes)
    box = []
    for n in volume.shape[:-1]:
        start = draw(st.integers(-3, n))
        stop = draw(st.integers(start + 1, n + 4))
        box.append((start, stop))
    return volume, box


@given(volume_and_box())
def test_crop_then_uncrop_restores_the_grid(pair):
    volume, box = pair
    cropped = crop_box(volume, box)
    assert cropped.shape[:-1] == tuple(b - a for a, b in box)
    restored = uncrop_box(cropped, box, volume.shape[:-1])
    assert restored.shape == volume.shape
    inside = np.zeros(volume.shape[:-1], bool)
    shape = volume.shape[:-1]
    inside[
        tuple(
            slice(min(max(a, 0), n), max(min(b, n), 0))
            for (a, b), n in zip(box, shape, strict=True)
        )
    ] = True
    np.testing.assert_array_equal(restored[inside], volume[inside])
    assert np.all(restored[~inside] == 0)


@given(volumes, st.integers(1, 9))
def test_pad_then_inverse_is_exact(volume, size):
    record = {"image": volume}
    padded = SpatialPadd("image", spatial_size=size)(record)
    assert all(s >= min(size, n) for s, n in zip(padded["image"].shape, volume.shape, strict=False))
    restored = Compose([]).inverse(padded)
    np.testing.assert_array_equal(restored["image"], volume)


@given(volumes, st.integers(0, 2**16))
def test_flip_and_rotation_then_inverse_are_exact(volume, seed):
    pipeline = Compose(
        [RandFlipd("image", prob=1.0, spatial_axis=[0, 2]), RandRotate90d("image", prob=1.0)],
        seed=seed,
    )
    transformed = pipeline({"image": volume})
    np.testing.assert_array_equal(pipeline.inverse(transformed)["image"], volume)


def test_pad_and_centre_crop_sizes():
    volume = np.ones((5, 8, 3, 1), np.float32)
    assert SpatialPad([8, None, 4])(volume).shape == (8, 8, 4, 1)
    assert SpatialPad(6, method="end")(volume)[5:, :, :, 0].sum() == 0
    assert CenterSpatialCrop([3, 4, -1])(volume).shape == (3, 4, 3, 1)
    assert CenterSpatialCrop(6)(volume).shape == (6, 6, 6, 1)  # smaller axes are padded


def test_spatial_crop_by_start_end_and_by_centre():
    volume = np.arange(10 * 10, dtype=np.float32).reshape(10, 10, 1)
    a = SpatialCrop(roi_start=[2, 3], roi_end=[5, 7])(volume)
    b = SpatialCrop(roi_center=[3, 5], roi_size=[3, 4])(volume)
    np.testing.assert_array_equal(a, volume[2:5, 3:7])
    np.testing.assert_array_equal(b, volume[2:5, 3:7])


def test_crop_foreground_with_margin_and_k_divisible():
    image = np.zeros((20, 20, 10, 2), np.float32)
    image[5:9, 6:13, 2:5, 1] = 1.0
    box = CropForeground(margin=1).box(image)
    assert box == [(4, 10), (5, 14), (1, 6)]
    box = CropForeground(margin=1, k_divisible=4).box(image)
    assert [b - a for a, b in box] == [8, 12, 8]
    record = CropForegroundd(["image", "label"], source_key="image", margin=1)(
        {"image": image, "label": image[..., :1].copy()}
    )
    assert record["image"].shape == (6, 9, 5, 2)
    assert record["label"].shape == (6, 9, 5, 1)
    assert record[meta_key("image")]["applied"][0]["box"] == [(4, 10), (5, 14), (1, 6)]


def test_crop_foreground_of_an_empty_image_keeps_it_whole():
    image = np.zeros((4, 5, 6, 1), np.float32)
    assert CropForeground().box(image) == [(0, 4), (0, 5), (0, 6)]


def test_prediction_is_mapped_back_onto_the_original_grid():
    image = np.zeros((20, 18, 12, 1), np.float32)
    image[4:15, 3:11, 2:9] = 1.0
    record = Compose(
        [
            CropForegroundd(["image"], source_key="image"),
            SpatialPadd(["image"], spatial_size=16),
            RandFlipd(["image"], prob=1.0, spatial_axis=1),
        ],
        seed=0,
    )({"image": image})
    record["pred"] = record["image"] * 2.0  # a "model" that doubles its input
    restored = Invertd("pred", reference="image")(record)["pred"]
    assert restored.shape == image.shape
    np.testing.assert_array_equal(restored, image * 2.0)


def test_random_crop_moves_image_and_label_together_and_is_seeded():
    image = np.random.default_rng(0).random((12, 12, 8, 1)).astype(np.float32)
    record = {"image": image, "label": image.copy()}
    first = RandSpatialCropd(["image", "label"], roi_size=[6, 5, 4]).set_random_state(1)(record)
    again = RandSpatialCropd(["image", "label"], roi_size=[6, 5, 4]).set_random_state(1)(record)
    np.testing.assert_array_equal(first["image"], first["label"])
    np.testing.assert_array_equal(first["image"], again["image"])
    assert first["image"].shape == (6, 5, 4, 1)


def test_pos_neg_sampling_returns_patches_around_the_tumour():
    image = np.ones((32, 32, 16, 1), np.float32)
    label = np.zeros((32, 32, 16, 1), np.float32)
    label[20:23, 5:8, 10:12] = 1.0
    sampler = RandCropByPosNegLabeld(
        ["image", "label"], label_key="label", spatial_size=[8, 8, 8], pos=1, neg=0, num_samples=4
    ).set_random_state(0)
    patches = sampler({"id": "c", "image": image, "label": label})
    assert len(patches) == 4
    for index, patch in enumerate(patches):
        assert patch["patch_index"] == index
        assert patch["image"].shape == (8, 8, 8, 1)
        assert patch["label"].sum() > 0  # every patch is centred on a tumour voxel
    negatives = RandCropByPosNegLabeld(
        "label", label_key="label", spatial_size=4, pos=0, neg=1, num_samples=3
    ).set_random_state(0)({"label": label})
    assert all(p["label"][2, 2, 2, 0] == 0 for p in negatives)


def test_pos_neg_patches_in_a_pipeline_each_invert():
    label = np.zeros((16, 16, 8, 1), np.float32)
    label[5:9, 5:9, 2:5] = 1.0
    pipeline = Compose(
        [
            RandCropByPosNegLabeld(
                ["label"], label_key="label", spatial_size=[8, 8, 4], num_samples=3
            ),
            RandFlipd(["label"], prob=0.5),
        ],
        seed=2,
    )
    patches = pipeline({"id": "case", "label": label})
    assert len(patches) == 3
    for patch in patches:
        restored = pipeline.inverse(patch)["label"]
        assert restored.shape == label.shape
        box = patch[meta_key("label")]["applied"][0]["box"]
        region = tuple(slice(max(a, 0), b) for a, b in box)
        np.testing.assert_array_equal(restored[region], label[region])


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: SpatialCrop(roi_start=[0, 5], roi_end=[3, 5]), "roi_end must exceed"),
        (lambda: SpatialCrop(), "roi_start and roi_end"),
        (lambda: SpatialPad(4, method="middle"), "method"),
        (lambda: RandCropByPosNegLabeld("x", "x", 4, pos=0, neg=0), "pos and neg"),
        (lambda: RandCropByPosNegLabeld("x", "x", 4, num_samples=0), "num_samples"),
        (lambda: RandRotate90d("x", spatial_axes=(1, 1)), "two different axes"),
        (lambda: RandFlipd("x", prob=1.5), "prob"),
    ],
)
def test_bad_options(factory, message):
    with pytest.raises(ConfigError, match=message):
        factory()


def test_keys_on_different_grids_are_refused():
    record = {"image": np.zeros((4, 4, 4, 1)), "label": np.zeros((4, 4, 3, 1))}
    with pytest.raises(DataError, match="'label' has spatial shape"):
        CenterSpatialCropd(["image", "label"], roi_size=2)(record)


def test_sizes_must_match_the_dimension():
    with pytest.raises(ConfigError, match="roi_size has 2 entries"):
        CenterSpatialCrop([2, 2])(np.zeros((4, 4, 4, 1)))


def test_array_forms_of_flip_and_rotation():
    from unetseg.transforms import RandFlip, RandRotate90

    volume = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2, 1)
    np.testing.assert_array_equal(RandFlip(prob=1.0, spatial_axis=1)(volume), volume[:, ::-1])
    np.testing.assert_array_equal(RandFlip(prob=0.0)(volume), volume)
    rotated = RandRotate90(prob=1.0, max_k=1)(volume)
    np.testing.assert_array_equal(rotated, np.rot90(volume, 1, axes=(0, 1)))
    with pytest.raises(ConfigError, match="out of range"):
        RandFlip(prob=1.0, spatial_axis=3)(volume)


def test_any_channel_is_numpys_any_and_leaves_its_input_alone():
    from unetseg.transforms.geometry import any_channel

    rng = np.random.default_rng(0)
    image = rng.integers(0, 3, size=(5, 4, 3)).astype(np.float32)
    np.testing.assert_array_equal(
        any_channel(image, lambda values: values == 2), (image == 2).any(axis=-1)
    )
    masks = rng.integers(0, 2, size=(6, 3)).astype(bool)
    before = masks.copy()
    np.testing.assert_array_equal(any_channel(masks, lambda values: values), masks.any(axis=-1))
    np.testing.assert_array_equal(masks, before)  # the first channel is not written to
    assert not any_channel(np.zeros((4, 0)), lambda values: values > 0).any()
