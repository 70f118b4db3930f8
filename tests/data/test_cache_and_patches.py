"""The preprocessing cache and the patch batches, on generated cases."""

from __future__ import annotations

import json

import numpy as np
import pytest

from unetseg.data import (
    PatchDataset,
    PreprocessedCache,
    find_brats_cases,
    write_synthetic_brats,
)
from unetseg.errors import ConfigError, DataError
from unetseg.transforms import (
    Compose,
    ConvertBratsLabelsd,
    CropForegroundd,
    LoadImaged,
    NormalizeIntensityd,
    RandFlipd,
    RandScaleIntensityd,
    Transform,
)

SHAPE = (48, 48, 32)


@pytest.fixture(scope="module")
def cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("brats")
    write_synthetic_brats(root, 3, shape=SHAPE, seed=0, progress=False)
    return find_brats_cases(root, require_labels=True)


def preprocessing() -> Compose:
    keys = ["image", "label"]
    return Compose(
        [
            LoadImaged(keys),
            ConvertBratsLabelsd("label"),
            NormalizeIntensityd("image", nonzero=True, channel_wise=True),
            CropForegroundd(keys, source_key="image"),
        ]
    )


class Counting(Transform):
    """Wrap a transform, count its calls, and fail on a chosen case."""

    def __init__(self, inner, fail_on=None):
        self.inner, self.fail_on, self.calls = inner, fail_on, 0

    def __call__(self, record):
        if record["id"] == self.fail_on:
            raise RuntimeError("interrupted")
        self.calls += 1
        return self.inner(record)

    def __repr__(self):
        return f"Counting({self.inner!r})"


def test_build_stores_arrays_metadata_and_foreground(cases, tmp_path):
    cache = PreprocessedCache(tmp_path / "cache", preprocessing())
    cached = cache.build(cases, progress=False)
    first = cached[0]
    image, label = first.array("image"), first.array("label")
    assert isinstance(image, np.memmap)
    assert image.dtype == np.float32
    assert image.shape[-1] == 4
    assert label.shape == (*image.shape[:-1], 3)
    # A generated case spans the BraTS field of view: 240 × 240 × 155 mm.
    assert first.info["image_meta"]["spacing"] == pytest.approx([240 / 48, 240 / 48, 155 / 32])
    assert first.info["image_meta"]["applied"][0]["kind"] == "crop"
    positions = first.foreground
    assert len(positions) == first.info["foreground_voxels"] > 0
    assert np.all(np.asarray(label)[tuple(positions.T)].any(axis=-1))


def test_interrupted_build_is_completed_and_then_reused(cases, tmp_path):
    folder = tmp_path / "cache"
    failing = Counting(preprocessing(), fail_on=cases[1]["id"])
    with pytest.raises(RuntimeError, match="interrupted"):
        PreprocessedCache(folder, failing).build(cases, progress=False)
    assert (folder / f"{cases[0]['id']}.json").is_file()
    assert not (folder / f"{cases[1]['id']}.json").exists()
    assert not list(folder.glob("*.tmp"))  # no half-written file left

    resumed = Counting(preprocessing())
    cached = PreprocessedCache(folder, resumed).build(cases, progress=False)
    assert resumed.calls == 2  # the finished case was not redone
    assert len(cached) == 3
    again = Counting(preprocessing())
    PreprocessedCache(folder, again).build(cases, progress=False)
    assert again.calls == 0
    for case in cached:
        assert np.isfinite(np.asarray(case.array("image"))).all()


def test_a_torn_json_means_the_case_is_rebuilt(cases, tmp_path):
    folder = tmp_path / "cache"
    PreprocessedCache(folder, preprocessing()).build(cases[:1], progress=False)
    (folder / f"{cases[0]['id']}.json").write_text('{"id": ')
    counting = Counting(preprocessing())
    PreprocessedCache(folder, counting).build(cases[:1], progress=False)
    assert counting.calls == 1
    assert json.loads((folder / f"{cases[0]['id']}.json").read_text())["id"] == cases[0]["id"]


def test_missing_case_and_bad_transform(cases, tmp_path):
    cache = PreprocessedCache(tmp_path / "cache", preprocessing())
    with pytest.raises(DataError, match="not in the cache"):
        cache.case("nope")
    bad = PreprocessedCache(tmp_path / "bad", Compose([LoadImaged(["image"])]))
    with pytest.raises(DataError, match="no 'label' array"):
        bad.build(cases[:1], progress=False)


@pytest.fixture
def cached(cases, tmp_path):
    return PreprocessedCache(tmp_path / "cache", preprocessing()).build(cases, progress=False)


def test_batches_have_the_right_shapes_and_dtypes(cached):
    dataset = PatchDataset(cached, patch_size=(32, 32, 16), batch_size=3, steps_per_epoch=4)
    assert len(dataset) == 4
    x, y = dataset[0]
    assert x.shape == (3, 32, 32, 16, 4)
    assert y.shape == (3, 32, 32, 16, 3)
    assert x.dtype == np.float32
    assert y.dtype == np.float32
    assert set(np.unique(y)) <= {0.0, 1.0}


def test_batches_are_deterministic_and_change_between_epochs(cached):
    a = PatchDataset(cached, patch_size=(16, 16, 16), batch_size=2, seed=5)
    b = PatchDataset(cached, patch_size=(16, 16, 16), batch_size=2, seed=5)
    np.testing.assert_array_equal(a[3][0], b[3][0])
    first = a[3][0]
    a.on_epoch_end()
    assert not np.array_equal(a[3][0], first)


def test_foreground_ratio_is_respected(cached):
    always = PatchDataset(cached, patch_size=(8, 8, 8), batch_size=8, foreground_ratio=1.0)
    _, y = always[0]
    centres = y[:, 4, 4, 4, 0]  # the centre voxel of every patch is tumour (WT)
    assert np.all(centres == 1.0)
    sometimes = PatchDataset(
        cached, patch_size=(8, 8, 8), batch_size=50, foreground_ratio=1 / 3, seed=1
    )
    share = np.mean([sometimes[i][1][:, 4, 4, 4, 0].mean() for i in range(6)])
    assert 0.25 < share < 0.5  # one third on tumour, plus the few random hits


def test_augmentation_is_applied_per_sample(cached):
    augment = Compose(
        [
            RandFlipd(["image", "label"], prob=0.5, spatial_axis=0),
            RandScaleIntensityd("image", factors=0.2, prob=1.0),
        ]
    )
    plain = PatchDataset(cached, patch_size=(16, 16, 16), batch_size=2, seed=2)
    augmented = PatchDataset(cached, patch_size=(16, 16, 16), batch_size=2, seed=2, augment=augment)
    assert not np.array_equal(plain[0][0], augmented[0][0])
    np.testing.assert_array_equal(augmented[0][0], augmented[0][0])  # reseeded per batch


def test_augmented_batches_prepared_in_parallel_threads_are_the_same(cached):
    # Worker threads shared one augmentation pipeline and re-seeded it in turn, so a
    # run with workers=2 drew other flips than the same run with one worker.
    from concurrent.futures import ThreadPoolExecutor

    augment = Compose(
        [
            RandFlipd(["image", "label"], prob=0.5),
            RandScaleIntensityd("image", factors=0.2, prob=0.5),
        ],
        seed=0,
    )
    patches = PatchDataset(cached, patch_size=(16, 16, 16), batch_size=4, seed=5, augment=augment)
    alone = [patches.batch(0, i)[0] for i in range(8)]
    for _ in range(3):
        with ThreadPoolExecutor(4) as pool:
            together = list(pool.map(lambda i: patches.batch(0, i)[0], range(8)))
        for a, b in zip(alone, together, strict=True):
            np.testing.assert_array_equal(a, b)


def test_bad_dataset_options(cached):
    with pytest.raises(ConfigError, match="at least one"):
        PatchDataset([], patch_size=(8, 8, 8))
    with pytest.raises(ConfigError, match="foreground_ratio"):
        PatchDataset(cached, patch_size=(8, 8, 8), foreground_ratio=2)


def test_tf_data_serves_the_same_batches_in_order(cached):
    import tensorflow as tf

    from unetseg.data import as_tf_dataset

    patches = PatchDataset(cached, patch_size=(16, 16, 16), batch_size=2, steps_per_epoch=3, seed=4)
    dataset = as_tf_dataset(patches, epochs=2, num_parallel_calls=2)
    assert dataset.element_spec[0].shape == (2, 16, 16, 16, 4)
    assert dataset.element_spec[1].dtype == tf.float32
    batches = list(dataset.as_numpy_iterator())
    assert len(batches) == 6
    np.testing.assert_array_equal(batches[1][0], patches.batch(0, 1)[0])
    np.testing.assert_array_equal(batches[4][1], patches.batch(1, 1)[1])
    with pytest.raises(ConfigError, match="epochs"):
        as_tf_dataset(patches, epochs=0)


def test_model_trains_from_patch_batches(cached):
    import keras

    from unetseg.data import as_tf_dataset
    from unetseg.losses import DiceCE

    keras.utils.set_random_seed(0)
    inputs = keras.Input((16, 16, 16, 4))
    model = keras.Model(inputs, keras.layers.Conv3D(3, 3, padding="same")(inputs))
    model.compile(optimizer="adam", loss=DiceCE())
    patches = PatchDataset(cached, patch_size=(16, 16, 16), batch_size=2, steps_per_epoch=2)
    history = model.fit(patches, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    history = model.fit(as_tf_dataset(patches, epochs=2), epochs=2, steps_per_epoch=2, verbose=0)
    assert len(history.history["loss"]) == 2


def test_dataset_applies_the_transform_to_a_copy(cases):
    from unetseg.data import Dataset

    dataset = Dataset(cases, preprocessing())
    assert len(dataset) == 3
    item = dataset[1]
    assert item["id"] == cases[1]["id"]
    assert item["image"].shape[-1] == 4
    assert isinstance(cases[1]["image"], list)  # the records keep their paths


def test_an_error_while_caching_names_the_case(cases, tmp_path):
    import nibabel as nib

    broken = dict(cases[1])
    label = nib.load(broken["label"])
    values = np.asarray(label.dataobj).copy()
    values[0, 0, 0] = 3  # not a BraTS label
    broken["label"] = str(tmp_path / "seg.nii.gz")
    nib.save(nib.Nifti1Image(values, label.affine), broken["label"])
    with pytest.raises(DataError, match=rf"^Case '{broken['id']}': .*labels"):
        PreprocessedCache(tmp_path / "cache", preprocessing()).build(
            [cases[0], broken], progress=False
        )
