"""nnU-Net raw and Decathlon datasets: cases, channels and the task from dataset.json."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from unetseg.data import MODALITIES, find_brats_cases, find_dataset, task_from_labels
from unetseg.data.synthetic import write_synthetic_brats
from unetseg.errors import DataError
from unetseg.regions import labels_to_regions
from unetseg.transforms import LoadImage

#: nnU-Net's BraTS conversion: edema 1, non-enhancing tumour 2, enhancing tumour 3.
NNUNET_LABELS = {1: 2, 2: 1, 4: 3}


@pytest.fixture(scope="module")
def brats(tmp_path_factory):
    root = tmp_path_factory.mktemp("brats")
    write_synthetic_brats(root, 3, shape=(24, 24, 16), seed=0, progress=False)
    return find_brats_cases(root, require_labels=True)


def relabelled(path):
    image = nib.load(path)
    labels = np.asarray(image.dataobj).astype(np.uint8)
    converted = np.zeros_like(labels)
    for old, new in NNUNET_LABELS.items():
        converted[labels == old] = new
    return nib.Nifti1Image(converted, image.affine)


def write_nnunet(root, records, *, test=1):
    for folder in ("imagesTr", "labelsTr", "imagesTs"):
        (root / folder).mkdir(parents=True)
    for index, record in enumerate(records):
        case = f"BRATS_{index:03d}"
        folder = "imagesTs" if index >= len(records) - test else "imagesTr"
        for channel, path in enumerate(record["image"]):
            nib.save(nib.load(path), root / folder / f"{case}_{channel:04d}.nii.gz")
        if folder == "imagesTr":
            nib.save(relabelled(record["label"]), root / "labelsTr" / f"{case}.nii.gz")
    description = {
        "channel_names": {"0": "FLAIR", "1": "T1w", "2": "T1gd", "3": "T2w"},
        "labels": {
            "background": 0,
            "whole tumor": [1, 2, 3],
            "tumor core": [2, 3],
            "enhancing tumor": [3],
        },
        "regions_class_order": [1, 2, 3],
        "numTraining": len(records) - test,
        "file_ending": ".nii.gz",
        "name": "BraTS",
    }
    (root / "dataset.json").write_text(json.dumps(description))


def test_an_nnunet_dataset_gives_its_cases_channels_and_region_task(brats, tmp_path):
    write_nnunet(tmp_path, brats)
    dataset = find_dataset(tmp_path, require_labels=True)
    assert dataset.format == "nnunet"
    assert dataset.channel_names == ("FLAIR", "T1w", "T1gd", "T2w")
    assert [r["id"] for r in dataset.records] == ["BRATS_000", "BRATS_001"]
    assert [r["id"] for r in dataset.test_records] == ["BRATS_002"]
    task = dataset.task
    assert task.kind == "regions"
    assert task.channel_names == ("whole tumor", "tumor core", "enhancing tumor")
    assert task.paint == (1, 2, 3)
    # The images stack in channel order, and the regions are BraTS's WT, TC and ET.
    record = dataset.records[0]
    image = LoadImage(image_only=True)(record["image"])
    original = LoadImage(image_only=True)(brats[0]["image"])
    np.testing.assert_array_equal(image, original)
    labels = np.asarray(nib.load(record["label"]).dataobj)
    truth = np.asarray(nib.load(brats[0]["label"]).dataobj)
    np.testing.assert_array_equal(task.encode(labels), labels_to_regions(truth))
    assert set(np.unique(task.decode(task.encode(labels)))) <= {0, 1, 2, 3}


def test_a_decathlon_dataset_reads_4d_images_and_class_labels(brats, tmp_path):
    for folder in ("imagesTr", "labelsTr", "imagesTs"):
        (tmp_path / folder).mkdir()
    training, tests = [], []
    for index, record in enumerate(brats):
        name = f"BRATS_{index:03d}.nii.gz"
        channels = [nib.load(p) for p in record["image"]]
        stacked = np.stack([np.asarray(c.dataobj) for c in channels], axis=-1)
        folder = "imagesTs" if index == 2 else "imagesTr"
        nib.save(nib.Nifti1Image(stacked, channels[0].affine), tmp_path / folder / name)
        if index == 2:
            tests.append(f"./imagesTs/{name}")
            continue
        nib.save(relabelled(record["label"]), tmp_path / "labelsTr" / name)
        training.append({"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"})
    (tmp_path / "dataset.json").write_text(
        json.dumps(
            {
                "name": "BRATS",
                "modality": {"0": "FLAIR", "1": "T1w", "2": "t1gd", "3": "T2w"},
                "labels": {
                    "0": "background",
                    "1": "edema",
                    "2": "non-enhancing tumor",
                    "3": "enhancing tumour",
                },
                "training": training,
                "test": tests,
            }
        )
    )
    dataset = find_dataset(tmp_path, require_labels=True)
    assert dataset.format == "msd"
    assert [r["id"] for r in dataset.records] == ["BRATS_000", "BRATS_001"]
    assert [r["id"] for r in dataset.test_records] == ["BRATS_002"]
    assert dataset.task.kind == "classes"
    assert dataset.task.channel_names == (
        "background",
        "edema",
        "non-enhancing tumor",
        "enhancing tumour",
    )
    image = LoadImage(image_only=True)(dataset.records[1]["image"])
    np.testing.assert_array_equal(image, LoadImage(image_only=True)(brats[1]["image"]))
    assert len(MODALITIES) == image.shape[-1]


def test_a_case_missing_a_channel_is_named(brats, tmp_path):
    write_nnunet(tmp_path, brats)
    (tmp_path / "imagesTr" / "BRATS_001_0002.nii.gz").unlink()
    with pytest.raises(DataError, match=r"Case BRATS_001 .* missing: BRATS_001_0002\.nii\.gz"):
        find_dataset(tmp_path)
    (tmp_path / "labelsTr" / "BRATS_000.nii.gz").unlink()
    (tmp_path / "imagesTr" / "BRATS_001_0000.nii.gz").unlink()
    (tmp_path / "imagesTr" / "BRATS_001_0001.nii.gz").unlink()
    (tmp_path / "imagesTr" / "BRATS_001_0003.nii.gz").unlink()
    with pytest.raises(DataError, match=r"BRATS_000 has no label file"):
        find_dataset(tmp_path, require_labels=True)
    assert find_dataset(tmp_path, require_labels=False).records[0]["label"] is None


@pytest.mark.parametrize(
    ("description", "message"),
    [
        ({}, "neither 'channel_names'"),
        ({"channel_names": {"1": "a"}, "labels": {"background": 0, "x": 1}}, "0 to 0"),
        ({"channel_names": {"0": "a"}, "labels": {"background": 0, "x": 1, "ignore": 2}}, "ignore"),
        (
            {"channel_names": {"0": "a"}, "labels": {"background": 0, "a": [1, 2], "b": [2]}},
            "regions_class_order",
        ),
        ({"modality": {"0": "a"}, "labels": {"0": "bg", "1": "x"}, "training": []}, "no training"),
    ],
)
def test_a_wrong_dataset_json_is_named(tmp_path, description, message):
    (tmp_path / "dataset.json").write_text(json.dumps(description))
    (tmp_path / "imagesTr").mkdir()
    nib.save(
        nib.Nifti1Image(np.zeros((2, 2, 2)), np.eye(4)), tmp_path / "imagesTr" / "c_0000.nii.gz"
    )
    with pytest.raises(DataError, match=message):
        find_dataset(tmp_path)


def test_a_folder_without_dataset_json_is_refused(tmp_path):
    with pytest.raises(DataError, match=r"no dataset\.json"):
        find_dataset(tmp_path)


def test_task_from_labels_builds_classes_or_regions():
    assert task_from_labels("t", {"background": 0, "a": 1, "b": 2}).channel_names == (
        "background",
        "a",
        "b",
    )
    regions = task_from_labels("t", {"background": 0, "a": [1, 2], "b": [2]}, [1, 2])
    assert regions.channel_labels == ((1, 2), (2,))
    with pytest.raises(DataError, match="describe no task"):
        task_from_labels("t", {"a": 1})


def test_predictions_of_a_dataset_are_scored_per_channel_of_its_task(brats, tmp_path):
    from unetseg.inference import evaluate_predictions
    from unetseg.metrics import dice

    write_nnunet(tmp_path / "data", brats)
    dataset = find_dataset(tmp_path / "data", require_labels=True)
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    for index, record in enumerate(dataset.records):
        truth = nib.load(record["label"])
        labels = np.asarray(truth.dataobj).copy()
        if index == 1:
            labels[labels == 3] = 2  # enhancing tumour missed: ET wrong, TC and WT right
        nib.save(nib.Nifti1Image(labels, truth.affine), predictions / f"{record['id']}.nii.gz")
    evaluation = evaluate_predictions(predictions, dataset.records, task=dataset.task)
    assert evaluation.regions == ("whole tumor", "tumor core", "enhancing tumor")
    assert evaluation.mean("whole tumor") == 1.0
    assert evaluation.mean("tumor core") == 1.0
    truth = np.asarray(nib.load(dataset.records[1]["label"]).dataobj) == 3
    expected = (1.0 + dice(np.zeros_like(truth), truth)) / 2
    assert evaluation.mean("enhancing tumor") == pytest.approx(expected)
    assert "enhancing tumor" in evaluation.format_summary()


def test_unetseg_evaluate_scores_a_dataset_by_its_own_labels(brats, tmp_path):
    import subprocess
    import sys

    write_nnunet(tmp_path / "data", brats)
    dataset = find_dataset(tmp_path / "data", require_labels=True)
    predictions = tmp_path / "predictions"
    predictions.mkdir()
    for record in dataset.records:
        nib.save(nib.load(record["label"]), predictions / f"{record['id']}.nii.gz")
    result = subprocess.run(
        [sys.executable, "-m", "unetseg", "evaluate", str(predictions), str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert "whole tumor" in result.stdout
    assert "2 cases" in result.stdout
