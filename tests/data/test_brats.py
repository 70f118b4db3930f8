"""Discovery of BraTS 2020 cases in the official and the Kaggle layout."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from unetseg.data import (
    MODALITIES,
    MODALITIES_2023,
    find_brats_cases,
    kfold_splits,
    read_survival_info,
    shard_cases,
    train_val_test_split,
)
from unetseg.errors import ConfigError, DataError


def make_case(root, case, extension=".nii.gz", seg_name=None, modalities=MODALITIES):
    folder = root / case
    folder.mkdir(parents=True)
    for modality in modalities:
        (folder / f"{case}_{modality}{extension}").write_bytes(b"")
    if seg_name is not False:
        (folder / (seg_name or f"{case}_seg{extension}")).write_bytes(b"")
    return folder


def test_official_layout_with_name_mapping_and_survival(tmp_path):
    for number in (2, 1, 10):
        make_case(tmp_path, f"BraTS20_Training_{number:03d}")
    (tmp_path / "name_mapping.csv").write_text(
        "Grade,BraTS_2017_subject_ID,BraTS_2018_subject_ID,TCGA_TCIA_subject_ID,"
        "BraTS_2019_subject_ID,BraTS_2020_subject_ID\n"
        "HGG,a,b,c,d,BraTS20_Training_001\nLGG,a,b,c,d,BraTS20_Training_002\n"
    )
    (tmp_path / "survival_info.csv").write_text(
        "Brats20ID,Age,Survival_days,Extent_of_Resection\n"
        "BraTS20_Training_001,60.463,289,GTR\n"
        "BraTS20_Training_002,52.263,ALIVE (361 days later),\n"
    )
    records = find_brats_cases(tmp_path)
    assert [r["id"] for r in records] == [
        "BraTS20_Training_001",
        "BraTS20_Training_002",
        "BraTS20_Training_010",
    ]
    first = records[0]
    assert [p.split("_")[-1] for p in first["image"]] == [f"{m}.nii.gz" for m in MODALITIES]
    assert first["label"].endswith("BraTS20_Training_001_seg.nii.gz")
    assert first["grade"] == "HGG"
    assert first["age"] == pytest.approx(60.463)
    assert first["survival_days"] == 289
    assert first["extent_of_resection"] == "GTR"
    second = records[1]
    assert second["survival_days"] is None
    assert second["survival_raw"] == "ALIVE (361 days later)"
    assert records[2]["grade"] is None


def test_csv_files_written_by_a_windows_spreadsheet_are_read(tmp_path):
    from unetseg.data.brats import read_name_mapping, read_survival_info

    mapping = (
        "Grade,TCGA_TCIA_subject_ID,BraTS_2020_subject_ID\nHGG,Ségolène,BraTS20_Training_001\n"
    )
    (tmp_path / "name_mapping.csv").write_bytes(mapping.encode("cp1252"))
    assert read_name_mapping(tmp_path / "name_mapping.csv") == {"BraTS20_Training_001": "HGG"}
    survival = (
        "Brats20ID,Age,Survival_days,Extent_of_Resection\nBraTS20_Training_001,60,289,GTR é\n"
    )
    (tmp_path / "survival_info.csv").write_bytes(survival.encode("cp1252"))
    info = read_survival_info(tmp_path / "survival_info.csv")
    assert info["BraTS20_Training_001"]["extent_of_resection"] == "GTR é"


def test_a_csv_file_of_unknown_encoding_is_named(tmp_path):
    from unetseg.data.brats import read_name_mapping

    path = tmp_path / "name_mapping.csv"
    path.write_bytes(b"Grade,BraTS_2020_subject_ID\nHGG,\x81\x8d\x90\n")
    with pytest.raises(DataError, match=r"name_mapping\.csv is neither UTF-8 nor Windows-1252"):
        read_name_mapping(path)


def test_kaggle_layout_with_the_odd_segmentation_name(tmp_path):
    root = tmp_path / "BraTS2020_TrainingData" / "MICCAI_BraTS2020_TrainingData"
    make_case(root, "BraTS20_Training_354", extension=".nii")
    make_case(root, "BraTS20_Training_355", extension=".nii", seg_name="W39_1998.09.19_Segm.nii")
    records = find_brats_cases(tmp_path / "BraTS2020_TrainingData", require_labels=True)
    assert records[1]["label"].endswith("W39_1998.09.19_Segm.nii")
    assert records[0]["image"][1].endswith("BraTS20_Training_354_t1.nii")


def test_validation_folder_without_labels(tmp_path):
    make_case(tmp_path, "BraTS20_Validation_001", seg_name=False)
    (record,) = find_brats_cases(tmp_path)
    assert record["label"] is None
    with pytest.raises(DataError, match=r"BraTS20_Validation_001 .* has no segmentation"):
        find_brats_cases(tmp_path, require_labels=True)


def test_missing_modality_is_named(tmp_path):
    make_case(tmp_path, "BraTS20_Training_001", modalities=("flair", "t1", "t2"))
    with pytest.raises(DataError, match=r"BraTS20_Training_001 .* has no t1ce image"):
        find_brats_cases(tmp_path)


def test_two_candidates_for_one_modality_are_named(tmp_path):
    folder = make_case(tmp_path, "BraTS20_Training_001")
    (folder / "BraTS20_Training_001_flair.nii").write_bytes(b"")
    with pytest.raises(DataError, match="2 candidate files for the flair modality"):
        find_brats_cases(tmp_path)


def test_two_segmentations_are_named(tmp_path):
    folder = make_case(tmp_path, "BraTS20_Training_001")
    (folder / "old_seg.nii.gz").write_bytes(b"")
    with pytest.raises(DataError, match="2 candidate files for the segmentation"):
        find_brats_cases(tmp_path)


def test_empty_or_wrong_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        find_brats_cases(tmp_path / "nowhere")
    (tmp_path / "some_folder").mkdir()
    with pytest.raises(DataError, match="No BraTS case folders"):
        find_brats_cases(tmp_path)


def test_survival_file_needs_an_id_column(tmp_path):
    path = tmp_path / "survival_info.csv"
    path.write_text("Age,Survival_days\n1,2\n")
    with pytest.raises(DataError, match="no case id column"):
        read_survival_info(path)


def test_kfold_is_deterministic_by_sorted_id():
    ids = [f"case_{i:02d}" for i in range(10)]
    folds = kfold_splits(list(reversed(ids)), k=5, seed=3)
    assert folds == kfold_splits(ids, k=5, seed=3)
    assert folds != kfold_splits(ids, k=5, seed=4)
    validated = sorted(i for _, val in folds for i in val)
    assert validated == ids
    for train, val in folds:
        assert not set(train) & set(val)
        assert len(val) == 2


def test_train_val_test_split():
    ids = [f"case_{i:02d}" for i in range(20)]
    train, val, test = train_val_test_split(ids, (0.7, 0.15, 0.15), seed=0)
    assert (len(train), len(val), len(test)) == (14, 3, 3)
    assert sorted(train + val + test) == ids
    assert (train, val, test) == train_val_test_split(list(reversed(ids)), seed=0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kfold_splits(["a", "b"], k=5), "k must be"),
        (lambda: train_val_test_split(["a"], (0.5, 0.6, 0.1)), "fractions"),
        (lambda: kfold_splits(["a", "a", "b"], k=2), "repeat"),
    ],
)
def test_bad_split_arguments(call, message):
    with pytest.raises((ConfigError, DataError), match=message):
        call()


@given(
    cases=st.integers(0, 30),
    count=st.integers(1, 8),
)
def test_shards_hold_every_case_exactly_once_and_balanced(cases, count):
    records = [{"id": f"BraTS20_Training_{i:03d}"} for i in range(cases)][::-1]
    shards = [[r["id"] for r in shard_cases(records, i, count)] for i in range(count)]
    together = [case for shard in shards for case in shard]
    assert sorted(together) == sorted(r["id"] for r in records)
    assert len(set(together)) == len(together)
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert all(shard == sorted(shard) for shard in shards)


def test_a_shard_outside_its_range_is_refused():
    records = [{"id": "a"}, {"id": "b"}]
    with pytest.raises(ConfigError, match="0–1, got 2"):
        shard_cases(records, 2, 2)
    with pytest.raises(ConfigError):
        shard_cases(records, 0, 0)
    with pytest.raises(DataError, match="repeat"):
        shard_cases([{"id": "a"}, {"id": "a"}], 0, 1)


def test_brats_2021_cases_are_found_like_2020_ones(tmp_path):
    for number in (12, 3):
        make_case(tmp_path, f"BraTS2021_{number:05d}")
    records = find_brats_cases(tmp_path, require_labels=True)
    assert [r["id"] for r in records] == ["BraTS2021_00003", "BraTS2021_00012"]
    assert records[0]["image"][0].endswith("BraTS2021_00003_flair.nii.gz")
    assert "label_convention" not in records[0]  # labels 1/2/4, as in 2020


def test_brats_2023_cases_map_their_modalities_and_say_their_labels(tmp_path):
    for case in ("BraTS-GLI-00002-000", "BraTS-MEN-00001-001"):
        folder = tmp_path / case
        folder.mkdir()
        for name in ("t1c", "t1n", "t2f", "t2w", "seg"):
            (folder / f"{case}-{name}.nii.gz").write_bytes(b"")
    records = find_brats_cases(tmp_path, require_labels=True)
    assert [r["id"] for r in records] == ["BraTS-GLI-00002-000", "BraTS-MEN-00001-001"]
    first = records[0]
    names = [path.rsplit("/", 1)[-1] for path in first["image"]]
    assert names == [f"BraTS-GLI-00002-000-{MODALITIES_2023[m]}.nii.gz" for m in MODALITIES]
    assert first["label"].endswith("BraTS-GLI-00002-000-seg.nii.gz")
    assert first["label_convention"] == "brats2023"
    (tmp_path / "BraTS-GLI-00002-000" / "BraTS-GLI-00002-000-t1n.nii.gz").unlink()
    with pytest.raises(DataError, match=r"no t1 image \(expected BraTS-GLI-00002-000-t1n"):
        find_brats_cases(tmp_path)


def test_a_brats_2024_post_treatment_label_is_not_read_as_enhancing_tumour():
    import numpy as np

    from unetseg.regions import convert_label_convention

    with pytest.raises(DataError, match=r"Labels \[4\] are not brats2023 labels"):
        convert_label_convention(np.array([0, 3, 4]), "brats2023")
