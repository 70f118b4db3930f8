"""NIfTI input and output through real temporary files."""

from __future__ import annotations

import gzip

import nibabel as nib
import numpy as np
import pytest

from unetseg.errors import DataError
from unetseg.transforms import LoadImage, LoadImaged, SaveImage, SaveImaged, meta_key

AFFINE = np.diag([1.0, 1.0, 1.5, 1.0])


def write(path, data, affine=AFFINE, dtype=np.float32):
    image = nib.Nifti1Image(np.asarray(data, dtype=dtype), affine)
    nib.save(image, str(path))
    return path


@pytest.fixture
def modalities(tmp_path):
    rng = np.random.default_rng(0)
    paths = []
    for name in ("flair", "t1", "t1ce", "t2"):
        paths.append(write(tmp_path / f"case_{name}.nii.gz", rng.normal(size=(8, 7, 5))))
    return paths


def test_stacked_modalities_and_metadata(modalities):
    image, meta = LoadImage()(modalities)
    assert image.shape == (8, 7, 5, 4)
    assert image.dtype == np.float32
    np.testing.assert_allclose(image[..., 2], nib.load(modalities[2]).get_fdata())
    assert meta["spacing"] == (1.0, 1.0, 1.5)
    assert meta["spatial_shape"] == (8, 7, 5)
    assert meta["filenames"] == [str(p) for p in modalities]
    np.testing.assert_array_equal(meta["affine"], AFFINE)


def test_uncompressed_nii(tmp_path):
    path = write(tmp_path / "x.nii", np.ones((3, 3, 3)))
    assert LoadImage(image_only=True)(path).shape == (3, 3, 3, 1)


def test_reorientation_to_ras(tmp_path):
    data = np.arange(4 * 3 * 2, dtype=np.float32).reshape(4, 3, 2)
    flipped = np.diag([-1.0, 1.0, 1.0, 1.0])  # first axis runs right to left (LAS)
    path = write(tmp_path / "las.nii.gz", data, affine=flipped)
    image, meta = LoadImage(as_closest_canonical=True)(path)
    np.testing.assert_array_equal(image[..., 0], data[::-1])
    assert meta["affine"][0, 0] > 0
    np.testing.assert_array_equal(meta["original_affine"], flipped)


def test_save_and_load_round_trip_keeps_affine_and_dtype(modalities, tmp_path):
    labels = np.random.default_rng(1).choice([0, 1, 2, 4], size=(8, 7, 5, 1)).astype(np.uint8)
    _, meta = LoadImage()(modalities)
    written = SaveImage(dtype="uint8")(labels, tmp_path / "out" / "seg.nii.gz", meta)
    stored = nib.load(written)
    assert stored.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(stored.dataobj), labels[..., 0])
    np.testing.assert_array_equal(stored.affine, AFFINE)
    assert [p.name for p in written.parent.iterdir()] == ["seg.nii.gz"]  # no temporary left


def test_dictionary_forms(modalities, tmp_path):
    label_path = write(tmp_path / "seg.nii.gz", np.zeros((8, 7, 5)), dtype=np.uint8)
    record = LoadImaged(["image", "label"])(
        {"id": "case_1", "image": modalities, "label": label_path}
    )
    assert record["image"].shape == (8, 7, 5, 4)
    assert record[meta_key("label")]["filenames"] == [str(label_path)]
    saved = SaveImaged("label", folder=tmp_path / "pred", dtype="uint8")(record)
    assert saved["label_path"].name == "case_1_label.nii.gz"
    validation = LoadImaged(["image", "label"], allow_missing_keys=True)(
        {"id": "v", "image": modalities}
    )
    assert "label" not in validation


def test_mismatched_shapes_name_both_files(tmp_path, modalities):
    odd = write(tmp_path / "odd.nii.gz", np.zeros((8, 7, 4)))
    with pytest.raises(DataError) as info:
        LoadImage()([modalities[0], odd])
    assert "odd.nii.gz" in str(info.value)
    assert "case_flair.nii.gz" in str(info.value)


def test_mismatched_affines_name_both_files(tmp_path, modalities):
    moved = write(tmp_path / "moved.nii.gz", np.zeros((8, 7, 5)), affine=np.diag([2.0, 1, 1, 1]))
    with pytest.raises(
        DataError, match=r"moved\.nii\.gz and .*case_flair\.nii\.gz have different affines"
    ):
        LoadImage()([modalities[0], moved])


def test_truncated_file_is_named(tmp_path, modalities):
    truncated = tmp_path / "truncated.nii.gz"
    truncated.write_bytes(modalities[0].read_bytes()[:300])
    with pytest.raises(DataError, match=r"Cannot read NIfTI file .*truncated\.nii\.gz"):
        LoadImage()(truncated)


def test_corrupt_file_is_named(tmp_path):
    corrupt = tmp_path / "corrupt.nii.gz"
    corrupt.write_bytes(gzip.compress(b"this is not a NIfTI header" * 20))
    with pytest.raises(DataError, match=r"corrupt\.nii\.gz"):
        LoadImage()(corrupt)


@pytest.mark.parametrize("name", ["missing.nii.gz", "scan.mha"])
def test_missing_or_foreign_files_are_named(tmp_path, name):
    with pytest.raises(DataError, match=name.replace(".", r"\.")):
        LoadImage()(tmp_path / name)


def test_save_refuses_shape_that_does_not_match_metadata(modalities, tmp_path):
    _, meta = LoadImage()(modalities)
    with pytest.raises(DataError, match="undo the cropping"):
        SaveImage()(np.zeros((4, 4, 4)), tmp_path / "x.nii.gz", meta)


def test_save_without_overwrite_keeps_the_existing_file(tmp_path):
    path = write(tmp_path / "keep.nii.gz", np.ones((2, 2, 2)))
    with pytest.raises(FileExistsError):
        SaveImage(overwrite=False)(np.zeros((2, 2, 2)), path)
    assert nib.load(path).get_fdata().sum() == 8
