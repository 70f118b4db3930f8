from __future__ import annotations

import math

import numpy as np
import pytest

from unetseg.errors import ConfigError
from unetseg.transforms import Compose, Invertd, RandAffined, Spacingd, meta_key


def test_affine_with_nothing_to_do_is_the_identity():
    image = np.random.default_rng(0).random((9, 8, 7, 2)).astype(np.float32)
    out = RandAffined("image", prob=1.0).set_random_state(0)({"image": image})
    np.testing.assert_allclose(out["image"], image, atol=1e-6)


def test_quarter_turn_with_nearest_matches_rot90():
    image = np.arange(7 * 7, dtype=np.float32).reshape(7, 7, 1)
    rotate = RandAffined("image", prob=1.0, rotate_range=math.pi / 2, mode="nearest")
    rotate._matrix = lambda dims: np.array([[0.0, -1.0], [1.0, 0.0]])  # exactly +90°
    out = rotate({"image": image})["image"]
    assert any(np.array_equal(out, np.rot90(image, k, axes=(0, 1))) for k in (1, 3))


def test_image_and_label_move_together_and_labels_keep_their_values():
    rng = np.random.default_rng(0)
    image = np.zeros((20, 20, 12, 1), np.float32)
    image[6:14, 5:12, 3:9] = 1.0
    label = (image > 0).astype(np.uint8) * 4
    transform = RandAffined(
        ["image", "label"],
        prob=1.0,
        rotate_range=0.4,
        scale_range=0.2,
        mode=("bilinear", "nearest"),
    ).set_random_state(int(rng.integers(1000)))
    out = transform({"image": image, "label": label})
    assert set(np.unique(out["label"])) <= {0, 4}
    assert out["label"].dtype == np.uint8
    inside = out["image"][..., 0] > 0.75
    assert np.all(out["label"][..., 0][inside] == 4)  # where the image moved, the label did too


def test_affine_is_seeded():
    image = np.random.default_rng(0).random((10, 10, 6, 1)).astype(np.float32)
    make = lambda: RandAffined("image", prob=1.0, rotate_range=0.3, scale_range=0.1)  # noqa: E731
    a = Compose([make()], seed=1)({"image": image})["image"]
    b = Compose([make()], seed=1)({"image": image})["image"]
    c = Compose([make()], seed=2)({"image": image})["image"]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_spacing_resamples_and_inverts_to_the_original_grid():
    image = np.random.default_rng(0).random((16, 12, 10, 1)).astype(np.float32)
    record = {"image": image, meta_key("image"): {"spacing": (1.0, 1.0, 2.0)}}
    out = Spacingd("image", pixdim=(2.0, 2.0, 2.0))(record)
    assert out["image"].shape == (8, 6, 10, 1)
    out["pred"] = out["image"]
    restored = Invertd("pred", reference="image")(out)["pred"]
    assert restored.shape == image.shape


def test_spacing_to_the_same_spacing_changes_nothing():
    image = np.random.default_rng(0).random((6, 5, 4, 1)).astype(np.float32)
    record = {"image": image, meta_key("image"): {"spacing": (1.0, 1.0, 1.0)}}
    np.testing.assert_allclose(Spacingd("image", pixdim=1.0)(record)["image"], image, atol=1e-6)


def test_spacing_needs_the_source_spacing():
    with pytest.raises(KeyError, match="needs the voxel spacing of 'image'"):
        Spacingd("image", pixdim=1.0)({"image": np.zeros((4, 4, 4, 1))})


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: RandAffined("x", mode="cubic"), "mode"),
        (lambda: RandAffined(["x", "y"], mode=["bilinear"]), "mode"),
        (lambda: RandAffined("x", scale_range=1.5), "scale_range must be < 1"),
        (lambda: RandAffined("x", rotate_range=-0.1), "rotate_range must be >= 0"),
        (lambda: RandAffined("x", prob=2), "prob"),
    ],
)
def test_bad_options(factory, message):
    with pytest.raises(ConfigError, match=message):
        factory()


def test_spacing_inverts_a_label_map_with_its_own_nearest_neighbour_order():
    # Recorded as order 1 for every key, a label map came back interpolated (0.25, 1.5, ...).
    rng = np.random.default_rng(1)
    label = rng.choice(np.array([0, 2, 4], dtype=np.uint8), size=(12, 10, 8, 1))
    image = rng.random((12, 10, 8, 1)).astype(np.float32)
    meta = {"spacing": (1.0, 1.0, 1.0)}
    record = {"image": image, "label": label, "image_meta": meta, "label_meta": meta}
    out = Spacingd(["image", "label"], pixdim=(1.5, 2.0, 1.0), mode=("bilinear", "nearest"))(record)
    assert [
        op["order"] for op in (out["image_meta"]["applied"][0], out["label_meta"]["applied"][0])
    ] == [1, 0]
    restored = Compose([]).inverse(out)
    assert restored["label"].shape == label.shape
    assert restored["label"].dtype == np.uint8
    assert set(np.unique(restored["label"])) <= {0, 2, 4}
