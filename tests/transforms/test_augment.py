from __future__ import annotations

import sys

import numpy as np
import pytest

from unetseg.errors import ConfigError, DataError, MissingDependencyError
from unetseg.transforms import Albumentations, Albumentationsd, Compose

A = pytest.importorskip("albumentations")


def test_2d_pair_moves_together():
    image = np.random.default_rng(0).random((16, 12, 2)).astype(np.float32)
    mask = (image[..., :1] > 0.5).astype(np.uint8)
    out_image, out_mask = Albumentations(A.HorizontalFlip(p=1.0))(image, mask)
    np.testing.assert_array_equal(out_image, image[:, ::-1])
    np.testing.assert_array_equal(out_mask, mask[:, ::-1])


def test_volume_gets_one_draw_for_every_slice():
    volume = np.random.default_rng(0).random((16, 16, 6, 1)).astype(np.float32)
    label = (volume > 0.5).astype(np.uint8)
    transform = Albumentations(
        A.Compose([A.HorizontalFlip(p=0.5), A.RandomBrightnessContrast(p=1.0)])
    ).set_random_state(0)
    out, out_label = transform(volume, label)
    assert out.shape == volume.shape
    flipped = np.array_equal(out_label, label[:, ::-1])
    assert flipped or np.array_equal(out_label, label)
    # The same brightness/contrast change on every slice: one affine map of intensities.
    source = volume[:, ::-1] if flipped else volume
    slope, intercept = np.polyfit(source.ravel(), out.ravel(), 1)
    np.testing.assert_allclose(out, np.clip(source * slope + intercept, 0, 1), atol=1e-3)


def test_seeded_runs_repeat_and_differ_between_seeds():
    volume = np.random.default_rng(1).random((16, 16, 4, 1)).astype(np.float32)
    pipeline = A.Compose([A.RandomBrightnessContrast(p=1.0)])
    first = Albumentations(pipeline).set_random_state(3)(volume)
    again = Albumentations(pipeline).set_random_state(3)(volume)
    other = Albumentations(pipeline).set_random_state(4)(volume)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_dictionary_form_in_a_seeded_pipeline():
    image = np.random.default_rng(0).random((16, 16, 4, 2)).astype(np.float32)
    record = {"image": image, "label": (image[..., :1] > 0.5).astype(np.uint8)}
    pipeline = Compose([Albumentationsd(["image", "label"], A.VerticalFlip(p=1.0))], seed=0)
    out = pipeline(record)
    np.testing.assert_array_equal(out["image"], image[::-1])
    np.testing.assert_array_equal(out["label"], record["label"][::-1])


def test_bad_inputs():
    with pytest.raises(DataError, match="mask shape"):
        Albumentations(A.HorizontalFlip())(np.zeros((8, 8, 1)), np.zeros((8, 7)))
    with pytest.raises(ConfigError, match="one image key"):
        Albumentationsd(["image", "t2"], A.HorizontalFlip(), mask_key="label")
    with pytest.raises(ConfigError, match="albumentations transform"):
        Albumentations(42)


def test_missing_albumentations_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "albumentations", None)
    with pytest.raises(MissingDependencyError, match=r'pip install "unetseg\[augment\]"'):
        Albumentations([])
