from __future__ import annotations

import csv

import nibabel as nib
import numpy as np
import pytest

from unetseg.data import QUICK_SHAPE, find_brats_cases, generate_case, write_synthetic_brats
from unetseg.errors import ConfigError

SMALL = (48, 48, 32)


def test_generated_case_shapes_dtypes_and_labels():
    image, label = generate_case(SMALL, seed=1, enhancing=True)
    assert image.shape == (*SMALL, 4)
    assert image.dtype == np.float32
    assert label.dtype == np.uint8
    assert set(np.unique(label)) == {0, 1, 2, 4}
    assert image.min() >= 0
    assert np.all(image[label > 0] > 0)  # the tumour lies inside the head


def test_cases_without_enhancing_tumour():
    _, label = generate_case(SMALL, seed=1, enhancing=False)
    assert 4 not in np.unique(label)
    assert {1, 2} <= set(np.unique(label))


def test_contrasts_follow_the_tissue_table():
    image, label = generate_case(SMALL, seed=3, enhancing=True)
    flair, t1, t1ce, _ = (image[..., c] for c in range(4))
    oedema, enhancing = label == 2, label == 4
    assert flair[oedema].mean() > flair[(label == 0) & (flair > 0)].mean()  # oedema bright on FLAIR
    assert t1ce[enhancing].mean() > t1[enhancing].mean() * 1.3  # the rim enhances with contrast


def test_same_seed_same_case_and_different_seeds_differ():
    a = generate_case(SMALL, seed=5)
    b = generate_case(SMALL, seed=5)
    c = generate_case(SMALL, seed=6)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[1], c[1])


def test_written_in_the_official_layout(tmp_path):
    folders = write_synthetic_brats(tmp_path, 3, shape=SMALL, seed=0, progress=False)
    assert [f.name for f in folders] == [f"BraTS20_Training_00{i}" for i in (1, 2, 3)]
    records = find_brats_cases(tmp_path, require_labels=True)
    assert [r["id"] for r in records] == [f.name for f in folders]
    assert all(r["grade"] in {"HGG", "LGG"} for r in records)
    seg = nib.load(records[0]["label"])
    assert seg.shape == SMALL
    assert seg.get_data_dtype() == np.uint8
    assert nib.load(records[0]["image"][0]).get_data_dtype() == np.int16
    with open(tmp_path / "name_mapping.csv", newline="") as handle:
        assert next(csv.reader(handle)) == ["Grade", "BraTS_2020_subject_ID"]


def test_validation_cases_have_no_segmentation(tmp_path):
    write_synthetic_brats(tmp_path, 2, shape=SMALL, validation=True, progress=False)
    records = find_brats_cases(tmp_path)
    assert [r["label"] for r in records] == [None, None]
    assert records[0]["id"] == "BraTS20_Validation_001"


def test_bad_arguments():
    with pytest.raises(ConfigError, match="num_cases"):
        write_synthetic_brats("unused", 0)
    with pytest.raises(ConfigError, match="shape"):
        generate_case((8, 8, 8))


def test_quick_shape_is_divisible_for_a_five_stage_unet():
    assert all(n % 16 == 0 for n in QUICK_SHAPE)


def test_the_anatomy_is_the_mni152_template():
    from unetseg.data.synthetic import load_anatomy

    anatomy = load_anatomy()
    assert set(anatomy) == {"gm", "wm", "csf", "t1"}
    brain = (anatomy["gm"] + anatomy["wm"] + anatomy["csf"]) > 0.5
    litres = brain.sum() / 1e6  # 1 mm voxels
    assert 1.3 < litres < 2.0  # an adult brain
    grey = (anatomy["gm"] > 0.5) & brain
    assert 0.4 < grey.sum() / brain.sum() < 0.65  # the cortical ribbon and deep grey matter


@pytest.fixture(scope="module")
def quick_case():
    return generate_case(QUICK_SHAPE, seed=4)


def test_a_case_looks_like_brain_mri(quick_case):
    image, label = quick_case
    brain = image[..., 0] > 0
    assert 0.12 < brain.mean() < 0.32  # skull-stripped, in the BraTS field of view
    normal = brain & (label == 0)
    flair, t1, t2 = image[..., 0], image[..., 1], image[..., 3]
    # CSF (ventricles, sulci): bright on T2, suppressed on FLAIR, dark on T1.
    csf = normal & (t2 > 1.6 * np.median(t2[normal]))
    assert 0.01 < csf.sum() / normal.sum() < 0.15
    assert flair[csf].mean() < 0.7 * flair[normal].mean()
    assert t1[csf].mean() < 0.7 * t1[normal].mean()


def test_cases_are_oriented_as_brats_arrays(quick_case):
    # BraTS arrays run anterior → posterior on axis 1 and inferior → superior on axis 2:
    # the lowest slices hold the cerebellum, at the back.
    brain = np.argwhere(quick_case[0][..., 0] > 0)
    low = brain[:, 2] < np.percentile(brain[:, 2], 15)
    assert brain[low, 1].mean() > brain[:, 1].mean() + 2


def test_the_affine_spans_the_brats_field_of_view(tmp_path):
    from unetseg.data.synthetic import brats_affine

    np.testing.assert_allclose(np.abs(np.diag(brats_affine(QUICK_SHAPE))[:3]), [2.5, 2.5, 155 / 64])
    write_synthetic_brats(tmp_path, 1, shape=QUICK_SHAPE, seed=0, progress=False)
    (record,) = find_brats_cases(tmp_path)
    zooms = nib.load(record["label"]).header.get_zooms()
    np.testing.assert_allclose(zooms, [2.5, 2.5, 155 / 64], rtol=1e-5)


def test_oedema_is_bright_on_flair(quick_case):
    image, label = quick_case
    flair = image[..., 0]
    oedema = label == 2
    assert oedema.any()
    assert flair[oedema].mean() > 1.3 * flair[(label == 0) & (flair > 0)].mean()
