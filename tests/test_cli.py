"""The ``unetseg`` command line, end to end in subprocesses, and its error handling."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from importlib.metadata import entry_points

import nibabel as nib
import numpy as np
import pytest

from unetseg.cli import build_parser

TINY = [
    "--set",
    "model.config={spatial_dims=3, in_channels=4, out_channels=3, features=[4, 8]}",
    "--set",
    "train.epochs=2",
    "--set",
    "train.steps_per_epoch=2",
    "--set",
    "train.patch_size=[16, 16, 16]",
    "--set",
    "train.val_every=1",
    "--set",
    "train.workers=1",
    "--set",
    "inference.roi_size=[32, 32, 32]",
    "--set",
    "data.test_cases=2",
    # The 32×32×24 cases are at 7.5 mm: resampled, but not up to the recipe's 2.5 mm
    # (a 96×96×64 volume per case).
    "--set",
    "data.spacing=[5.0, 5.0, 5.0]",
]


def unetseg(*arguments, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "unetseg", *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=cwd,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )


def test_the_console_script_is_declared():
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "unetseg"]
    assert script.value == "unetseg.cli:main"


@pytest.mark.slow
def test_synth_train_predict_evaluate_end_to_end(tmp_path):
    data = tmp_path / "data"
    result = unetseg("synth", data, "--cases", 4, "--shape", 32, 32, 24, "--seed", 1)
    assert result.returncode == 0, result.stderr
    assert len([p for p in data.iterdir() if p.is_dir()]) == 4

    work = tmp_path / "run"
    result = unetseg("train", "quick", "--data", data, "--work-dir", work, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WT" in result.stdout
    assert "HD95" in result.stdout or "hd95" in result.stdout
    for name in ("best.keras", "last.keras", "history.csv", "recipe.json", "metrics.csv"):
        assert (work / name).is_file(), name
    assert (work / "figures" / "training_curves.png").is_file()
    assert len(list((work / "figures").glob("overlay_*.png"))) == 2
    with (work / "metrics.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2 * 3
    assert {row["region"] for row in rows} == {"WT", "TC", "ET"}

    predictions = tmp_path / "predictions"
    result = unetseg("predict", work, data, predictions)
    assert result.returncode == 0, result.stderr[-3000:]
    written = sorted(predictions.glob("*.nii.gz"))
    assert len(written) == 4
    source = nib.load(str(next((data / "BraTS20_Training_001").glob("*_flair.nii.gz"))))
    prediction = nib.load(str(predictions / "BraTS20_Training_001.nii.gz"))
    assert prediction.shape == source.shape
    np.testing.assert_allclose(prediction.affine, source.affine)
    assert set(np.unique(np.asarray(prediction.dataobj))) <= {0, 1, 2, 4}

    result = unetseg("evaluate", predictions, data, "--output", tmp_path / "m.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 cases" in result.stdout
    assert (tmp_path / "m.csv").is_file()

    # Exported to ONNX, the model predicts the same label maps in onnxruntime.
    result = unetseg("export", work, tmp_path / "model.onnx")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "largest difference to Keras" in result.stdout
    again = unetseg("export", work, tmp_path / "model.onnx")
    assert again.returncode == 2
    assert "exists" in again.stderr
    result = unetseg("predict", work, data, tmp_path / "onnx", "--model", tmp_path / "model.onnx")
    assert result.returncode == 0, result.stderr[-3000:]
    for path in sorted(predictions.glob("*.nii.gz")):
        keras_labels = np.asarray(nib.load(path).dataobj)
        onnx_labels = np.asarray(nib.load(tmp_path / "onnx" / path.name).dataobj)
        assert (keras_labels == onnx_labels).mean() > 0.999

    # Several runs are ensembled (here one run twice: the same model, averaged).
    fixed = ["--set", "inference.choose_postprocessing=false"]
    assert unetseg("predict", work, data, tmp_path / "single", *fixed).returncode == 0
    result = unetseg("predict", work, work, data, tmp_path / "ensemble", *fixed)
    assert result.returncode == 0, result.stderr[-3000:]
    for path in sorted((tmp_path / "single").glob("*.nii.gz")):
        single = np.asarray(nib.load(path).dataobj)
        ensemble = np.asarray(nib.load(tmp_path / "ensemble" / path.name).dataobj)
        assert (single == ensemble).mean() > 0.995  # probabilities blended, not logits


@pytest.mark.slow
def test_the_seed_2d_recipe_reports_the_notebook_metric_beside_the_brats_metrics(tmp_path):
    work = tmp_path / "run"
    result = unetseg(
        "train",
        "seed_2d",
        "--work-dir",
        work,
        "--set",
        "data.synthetic_shape=[48, 48, 32]",
        "--set",
        "data.synthetic_cases=5",
        "--set",
        "data.test_cases=2",
        "--set",
        "data.slice_range=[8, 24]",
        "--set",
        "train.patch_size=[32, 32]",
        "--set",
        "model.config={input_size=[32, 32], features=[8, 16], strides=[1, 2]}",
        "--set",
        "train.epochs=1",
        "--set",
        "train.batch_size=16",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "background included" in result.stdout
    notebook = json.loads((work / "notebook_metric.json").read_text())
    assert 0 <= notebook["pooled_soft_dice_with_background"] <= 1
    assert len(notebook["per_case"]) == 2
    assert (work / "metrics.csv").is_file()
    assert len(list((work / "predictions").glob("*.nii.gz"))) == 2


@pytest.mark.slow
def test_the_3d_fullres_recipe_runs_end_to_end_on_full_size_cases(tmp_path):
    # The real recipe, shrunk only where a 2-core CPU demands: three cases in three
    # folds, one epoch of one step on the smallest patch its network takes, narrow
    # layers, windows without overlap or mirroring, the post-processing as configured
    # (choosing it on validation is the quick recipe's test: here it would predict the
    # case once more).
    data = tmp_path / "data"
    result = unetseg("synth", data, "--cases", 3, "--shape", 240, 240, 155, "--seed", 2)
    assert result.returncode == 0, result.stderr[-2000:]
    work = tmp_path / "run"
    shrink = {
        "data.folds": 3,
        "train.epochs": 1,
        "train.steps_per_epoch": 1,
        "train.patch_size": "[32, 32, 32]",
        "train.workers": 1,
        "train.precision": '"float32"',  # bfloat16 convolutions crawl on this CPU
        "inference.roi_size": "[32, 32, 32]",
        "inference.overlap": 0.0,
        "inference.tta": "false",
        "inference.choose_postprocessing": "false",
        "report.overlays": 1,
        # nnU-Net's six stages and deep supervision, with 4–16 features: the whole-case
        # validation and prediction at 1 mm cost minutes with 32–320
        "model.config": "{base_features=4, max_features=16}",
    }
    settings = [f"--set={key}={value}" for key, value in shrink.items()]
    result = unetseg("train", "3d_fullres", "--data", data, "--work-dir", work, *settings)
    assert result.returncode == 0, result.stderr[-3000:]
    config = json.loads((work / "config.json").read_text())
    assert config["model"]["deep_supervision"] is True  # nnU-Net's network, unchanged
    assert config["trainer"]["optimizer"] == "sgd"
    (prediction,) = sorted((work / "predictions").glob("*.nii.gz"))  # fold 0 of 3: one case
    assert nib.load(prediction).shape == (240, 240, 155)
    with (work / "metrics.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 3


def test_info():
    result = unetseg("info", "--no-devices")
    assert result.returncode == 0, result.stderr
    assert "keras" in result.stdout.lower()


def test_info_works_when_the_backend_does_not():
    # The bug-report command must run when the thing to report is a broken backend.
    env = {**os.environ, "KERAS_BACKEND": "bogus"}
    result = subprocess.run(
        [sys.executable, "-m", "unetseg", "info"],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "keras backend  unavailable" in result.stdout
    assert "bogus" in result.stdout
    assert "Traceback" not in result.stderr


@pytest.fixture(scope="module")
def scored_cases(tmp_path_factory):
    """Two small generated cases and a folder of perfect predictions."""
    import shutil

    from unetseg.data import find_brats_cases, write_synthetic_brats

    root = tmp_path_factory.mktemp("scored")
    write_synthetic_brats(root / "truth", 2, shape=(24, 24, 16), seed=0, progress=False)
    (root / "predictions").mkdir()
    for record in find_brats_cases(root / "truth", require_labels=True):
        shutil.copy(record["label"], root / "predictions" / f"{record['id']}.nii.gz")
    return root


def _one_error_line(capsys, code, expected):
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    assert expected in lines[0], lines[0]
    return lines[0]


def test_evaluate_names_case_ids_it_does_not_know(scored_cases, tmp_path, capsys):
    from unetseg.cli import main

    code = main(
        [
            "evaluate",
            str(scored_cases / "predictions"),
            str(scored_cases / "truth"),
            "--output",
            str(tmp_path / "m.csv"),
            "--cases",
            "BraTS20_Training_001",
            "BraTS20_Training_999",
        ]
    )
    _one_error_line(capsys, code, "No case 'BraTS20_Training_999' in")
    assert not (tmp_path / "m.csv").exists()


def test_an_output_that_is_a_folder_is_one_line_not_a_traceback(scored_cases, tmp_path, capsys):
    from unetseg.cli import main

    folder = tmp_path / "metrics.csv"
    folder.mkdir()
    arguments = ["evaluate", str(scored_cases / "predictions"), str(scored_cases / "truth")]
    code = main([*arguments, "--output", str(folder)])
    _one_error_line(capsys, code, str(folder))
    assert list(folder.iterdir()) == []  # nothing half-written beside it either
    assert sorted(p.name for p in tmp_path.iterdir()) == ["metrics.csv"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["train", "nosuch"], "No recipe file 'nosuch'; the shipped recipes are 3d_fullres"),
        (["train", "quick", "--set", "train.epoch=2"], "unknown setting train.epoch"),
        (["train", "3d_fullres"], "pass --data"),
        (["evaluate", "nowhere", "nowhere"], "nowhere"),
        (["predict", "nowhere", "nowhere", "out"], "RUN nowhere does not exist"),
        (["predict", ".", ".", "out"], "no recipe.json"),
    ],
)
def test_mistakes_give_one_line_and_exit_code_2(tmp_path, arguments, message):
    result = unetseg(*arguments, cwd=tmp_path)
    assert result.returncode == 2, result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("unetseg")]
    assert len(lines) == 1
    assert message in lines[0]
    assert "Traceback" not in result.stderr


def test_train_refuses_a_work_dir_of_other_settings_before_writing(tmp_path):
    from unetseg.recipes import load_config

    work = tmp_path / "run"
    work.mkdir()
    quick = load_config(_shipped("quick"))
    (work / "recipe.json").write_text(json.dumps(quick.to_dict()))
    before = (work / "recipe.json").read_text()
    result = unetseg("train", "quick", "--work-dir", work, "--set", "train.epochs=3", cwd=tmp_path)
    assert result.returncode == 2, result.stderr[-2000:]
    lines = [line for line in result.stderr.splitlines() if line.startswith("unetseg")]
    assert len(lines) == 1
    assert f"train.epochs: {quick.train.epochs} → 3" in lines[0]
    assert "--force" in lines[0]
    assert (work / "recipe.json").read_text() == before
    assert sorted(p.name for p in work.iterdir()) == ["recipe.json"]


def _shipped(name):
    from pathlib import Path

    configs = Path(__file__).resolve().parents[1] / "examples" / "brats2020" / "configs"
    return configs / f"{name}.toml"


def test_debug_shows_the_traceback(tmp_path):
    result = unetseg("--debug", "train", "nosuch", cwd=tmp_path)
    assert result.returncode == 1
    assert "Traceback" in result.stderr


@pytest.mark.parametrize("command", [[], ["synth"], ["train"], ["predict"], ["evaluate"], ["info"]])
def test_help_at_every_level(command, capsys):
    with pytest.raises(SystemExit) as exit_info:
        build_parser().parse_args([*command, "--help"])
    assert exit_info.value.code == 0
    assert "usage: unetseg" in capsys.readouterr().out


def test_the_command_line_page_documents_every_command_and_option():
    from pathlib import Path

    page = (Path(__file__).resolve().parents[1] / "docs" / "cli.md").read_text()
    parser = build_parser()
    (commands,) = [a for a in parser._actions if a.dest == "command"]
    for name, subparser in commands.choices.items():
        assert f"## `unetseg {name}`" in page
        for action in subparser._actions:
            if action.dest == "help":
                continue
            shown = action.option_strings[-1] if action.option_strings else f"`{action.dest}`"
            assert shown in page, (name, shown)


def as_brats_2023(source, target):
    """Copy generated BraTS 2020 cases into the BraTS 2023 layout and labels (ET = 3)."""
    from unetseg.data import MODALITIES_2023

    target.mkdir()
    for number, folder in enumerate(sorted(p for p in source.iterdir() if p.is_dir())):
        case = f"BraTS-GLI-{number:05d}-000"
        (target / case).mkdir()
        for modality, name in MODALITIES_2023.items():
            image = nib.load(next(folder.glob(f"*_{modality}.nii.gz")))
            nib.save(image, target / case / f"{case}-{name}.nii.gz")
        seg = nib.load(next(folder.glob("*_seg.nii.gz")))
        labels = np.asarray(seg.dataobj).copy()
        labels[labels == 4] = 3
        nib.save(nib.Nifti1Image(labels, seg.affine), target / case / f"{case}-seg.nii.gz")


@pytest.mark.slow
def test_the_recipe_trains_predicts_and_evaluates_brats_2023_labels(tmp_path):
    assert unetseg("synth", tmp_path / "2020", "--cases", 4, "--shape", 32, 32, 24).returncode == 0
    data = tmp_path / "2023"
    as_brats_2023(tmp_path / "2020", data)
    work = tmp_path / "run"
    result = unetseg("train", "quick", "--data", data, "--work-dir", work, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WT" in result.stdout
    predictions = tmp_path / "predictions"
    result = unetseg("predict", work, data, predictions)
    assert result.returncode == 0, result.stderr[-3000:]
    written = sorted(predictions.glob("BraTS-GLI-*.nii.gz"))
    assert len(written) == 4
    found = set().union(*(np.unique(np.asarray(nib.load(p).dataobj)).tolist() for p in written))
    assert found <= {0, 1, 2, 3}  # the dataset's own labels: enhancing tumour is 3
    result = unetseg("evaluate", predictions, data, "--output", tmp_path / "m.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 cases" in result.stdout


@pytest.mark.slow
def test_the_recipe_trains_on_an_nnunet_dataset_with_its_own_task(tmp_path):
    from unetseg.data import find_brats_cases

    from .data.test_formats import write_nnunet

    assert unetseg("synth", tmp_path / "2020", "--cases", 5, "--shape", 32, 32, 24).returncode == 0
    data = tmp_path / "Dataset001_BrainTumour"
    write_nnunet(data, find_brats_cases(tmp_path / "2020", require_labels=True), test=1)
    work = tmp_path / "run"
    result = unetseg("train", "quick", "--data", data, "--work-dir", work, *TINY)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "nnunet dataset 'BraTS'" in result.stdout
    assert "whole tumor" in result.stdout  # scored per region of dataset.json
    stored = json.loads((work / "recipe.json").read_text())
    assert stored["model"]["task"]["channel_names"] == [
        "whole tumor",
        "tumor core",
        "enhancing tumor",
    ]
    with (work / "metrics.csv").open() as handle:
        assert {row["region"] for row in csv.DictReader(handle)} == {
            "whole tumor",
            "tumor core",
            "enhancing tumor",
        }
    # predict reads the run's task from recipe.json: every case, imagesTs included.
    predictions = tmp_path / "predictions"
    result = unetseg("predict", work, data, predictions)
    assert result.returncode == 0, result.stderr[-3000:]
    written = sorted(predictions.glob("BRATS_*.nii.gz"))
    assert [p.name for p in written][-1] == "BRATS_004.nii.gz"  # the imagesTs case
    assert len(written) == 5
    found = set().union(*(np.unique(np.asarray(nib.load(p).dataobj)).tolist() for p in written))
    assert found <= {0, 1, 2, 3}
    result = unetseg("evaluate", predictions, data, "--output", tmp_path / "metrics.csv")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 cases" in result.stdout
    assert (tmp_path / "metrics.csv").is_file()
