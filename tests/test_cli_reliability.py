"""Bad inputs through the command line: one clear line and exit code 2, never a traceback,
never a silently wrong or half-written result.

The ``predict`` tests use a run folder made without training (a recipe's ``recipe.json``
and its untrained network saved as ``best.keras``): what is tested is what ``predict``
does with its inputs, not the quality of the model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from unetseg.cli import main

TINY = {
    "recipe": {"name": "tiny"},
    "model": {
        "config": {"spatial_dims": 3, "in_channels": 4, "out_channels": 3, "features": [4, 8]}
    },
    "train": {"patch_size": [16, 16, 16]},
    "data": {"spacing": [5.0, 5.0, 5.0]},
}


@pytest.fixture(scope="module")
def untrained_run(tmp_path_factory):
    """A run folder (recipe.json, best.keras) and two generated cases to predict."""
    from unetseg.data import write_synthetic_brats
    from unetseg.recipes import RecipeConfig

    root = tmp_path_factory.mktemp("untrained")
    config = RecipeConfig.from_dict(TINY)
    run = root / "run"
    run.mkdir()
    (run / "recipe.json").write_text(json.dumps(config.to_dict()))
    config.network.build().save(run / "best.keras")
    write_synthetic_brats(root / "cases", 2, shape=(32, 32, 24), seed=1, progress=False)
    return root


def _error(capsys, code, *expected):
    captured = capsys.readouterr()
    assert code == 2, captured.err
    lines = [line for line in captured.err.splitlines() if line.strip()]
    assert len(lines) == 1, captured.err
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _predict(root, output, *more):
    return main(["predict", str(root / "run"), str(root / "cases"), str(output), *more])


def test_predict_refuses_a_file_it_did_not_write_and_redoes_it_when_told(
    untrained_run, tmp_path, capsys
):
    output = tmp_path / "out"
    output.mkdir()
    stale = output / "BraTS20_Training_001.nii.gz"
    stale.write_bytes(b"not a prediction")
    _error(capsys, _predict(untrained_run, output), "BraTS20_Training_001.nii.gz", "--overwrite")
    assert stale.read_bytes() == b"not a prediction"
    assert sorted(p.name for p in output.iterdir()) == [stale.name]  # nothing predicted

    assert _predict(untrained_run, output, "--overwrite") == 0
    assert nib.load(stale).shape == (32, 32, 24)
    manifest = json.loads((output / "predictions.json").read_text())
    assert sorted(manifest["files"]) == [
        "BraTS20_Training_001.nii.gz",
        "BraTS20_Training_002.nii.gz",
    ]
    assert manifest["files"][stale.name]["source"]["inference"]["tta"] is False
    capsys.readouterr()

    before = stale.stat().st_mtime_ns
    assert _predict(untrained_run, output) == 0  # resumed: everything is current
    assert stale.stat().st_mtime_ns == before
    capsys.readouterr()
    code = _predict(untrained_run, output, "--set", "inference.tta=true")
    _error(capsys, code, "another model or other settings")


def test_shards_predict_every_case_once_into_one_folder(untrained_run, tmp_path, capsys):
    output = tmp_path / "out"
    assert _predict(untrained_run, output, "--shard", "1/2") == 0
    assert sorted(p.name for p in output.iterdir()) == [
        "BraTS20_Training_002.nii.gz",
        "predictions.shard-1-of-2.json",
    ]
    assert _predict(untrained_run, output, "--shard", "0/2") == 0
    assert sorted(p.name for p in output.glob("*.nii.gz")) == [
        "BraTS20_Training_001.nii.gz",
        "BraTS20_Training_002.nii.gz",
    ]
    before = (output / "BraTS20_Training_002.nii.gz").stat().st_mtime_ns
    assert _predict(untrained_run, output, "--shard", "1/2") == 0  # its case is done
    assert (output / "BraTS20_Training_002.nii.gz").stat().st_mtime_ns == before
    capsys.readouterr()
    with pytest.raises(SystemExit):
        _predict(untrained_run, output, "--shard", "2/2")
    assert "expected 0 <= I < N, got '2/2'" in capsys.readouterr().err


def test_predict_refuses_a_model_of_another_recipe_before_reading_a_case(
    untrained_run, tmp_path, capsys
):
    import keras

    inputs = keras.Input((16, 16, 1))
    other = untrained_run / "other.keras"
    keras.Model(inputs, keras.layers.Conv2D(2, 1)(inputs)).save(other)
    code = _predict(untrained_run, tmp_path / "a", "--model", str(other))
    _error(capsys, code, "other.keras takes inputs of shape (None, 16, 16, 1)", "3D images with 4")

    inputs = keras.Input((None, None, None, 4))
    five = untrained_run / "five.keras"
    keras.Model(inputs, keras.layers.Conv3D(5, 1)(inputs)).save(five)
    code = _predict(untrained_run, tmp_path / "b", "--model", str(five))
    _error(capsys, code, "five.keras outputs 5 channels", "'brats_regions' has 3")

    corrupt = untrained_run / "corrupt.keras"
    corrupt.write_bytes((untrained_run / "run" / "best.keras").read_bytes()[:300])
    code = _predict(untrained_run, tmp_path / "c", "--model", str(corrupt))
    _error(capsys, code, "corrupt.keras: it is not a .keras file")
    assert not any((tmp_path / name).exists() for name in "abc")


def test_a_blank_modality_is_refused_naming_the_case_and_file_unless_allowed(
    untrained_run, tmp_path, capsys
):
    import shutil

    cases = tmp_path / "cases"
    shutil.copytree(untrained_run / "cases", cases)
    (t1,) = cases.glob("BraTS20_Training_002/*_t1.nii.gz")
    image = nib.load(t1)
    nib.save(nib.Nifti1Image(np.zeros(image.shape, np.float32), image.affine), t1)
    run = str(untrained_run / "run")
    code = main(["predict", run, str(cases), str(tmp_path / "out")])
    _error(capsys, code, "Case 'BraTS20_Training_002'", "BraTS20_Training_002_t1.nii.gz", "0.0")
    allowed = "data.allow_constant_channels=true"
    assert main(["predict", run, str(cases), str(tmp_path / "out2"), "--set", allowed]) == 0


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["evaluate", "{tmp}/nowhere", "{tmp}"], "PREDICTIONS {tmp}/nowhere does not exist"),
        (["evaluate", "{tmp}", "{tmp}", "--output", "{tmp}"], "is a folder"),
        (["predict", "{tmp}/nowhere", "{tmp}", "{tmp}/out"], "RUN {tmp}/nowhere does not exist"),
        (["predict", "{tmp}", "{tmp}", "{tmp}/a_file"], "a_file is a file"),
        (["train", "quick", "--work-dir", "{tmp}/a_file"], "a_file is a file"),
        (["train", "quick", "--data", "{tmp}/nowhere"], "--data {tmp}/nowhere does not exist"),
    ],
)
def test_paths_are_checked_first(tmp_path, capsys, arguments, message):
    (tmp_path / "a_file").write_text("")
    code = main([a.format(tmp=tmp_path) for a in arguments])
    _error(capsys, code, message.format(tmp=tmp_path))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def _cli(*arguments, env=None, cwd=None):
    environment = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run(
        [sys.executable, "-m", "unetseg", *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=cwd,
        env={**environment, **(env or {})},
    )


def test_an_error_is_one_line_without_the_backends_start_up_lines(tmp_path):
    (tmp_path / "a_file").write_text("")
    result = _cli("train", "quick", "--set", "train.epochs=0", cwd=tmp_path)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "unetseg train: error: overrides: train.epochs must be >= 1, got 0."
    ]
    result = _cli("train", "quick", env={"KERAS_BACKEND": "bogus"}, cwd=tmp_path)
    assert result.returncode == 2
    (line,) = result.stderr.splitlines()
    assert "Keras cannot start its backend 'bogus'" in line


def test_synth_and_evaluate_do_not_start_keras(tmp_path):
    cases = str(tmp_path / "cases")
    code = (
        "import sys, shutil, pathlib; from unetseg.cli import main; "
        f"assert main(['synth', {cases!r}, '--cases', '1', '--shape', '16', '16', '16']) == 0; "
        f"label = next(pathlib.Path({cases!r}).glob('*/*_seg.nii.gz')); "
        f"shutil.copy(label, pathlib.Path({str(tmp_path)!r}) / 'BraTS20_Training_001.nii.gz'); "
        f"assert main(['evaluate', {str(tmp_path)!r}, {cases!r}, '--output', "
        f"{str(tmp_path / 'm.csv')!r}]) == 0; "
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "1.0000" in result.stdout  # the label scored against itself
    assert (tmp_path / "m.csv").is_file()


# -- random settings: accepted, or refused in one line -----------------------------------


def _setting_names():
    from unetseg.recipes import RecipeConfig

    sections = RecipeConfig().to_dict()
    return sorted(f"{section}.{key}" for section, keys in sections.items() for key in keys)


def _main_quietly(arguments):
    """Run the command line; return its exit code and what it wrote on stderr."""
    import contextlib
    import io

    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = main(arguments)
        except SystemExit as exit_:  # argparse: a malformed command line
            code = exit_.code
    return code, stderr.getvalue()


VALUES = st.one_of(
    st.integers(-3, 300).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(
        [
            "true",
            "false",
            "none",
            "",
            "[",
            "[16, 16]",
            "[32, 32, 32]",
            "[0, 0, 0]",
            "{a = 1}",
            "{",
            "1e400",
            "-0.0",
            "'quick'",
            "sgd",
            "dice_ce",
            "instance",
            "[1, 2, 3, 4]",
            '""',
        ]
    ),
    st.text(max_size=12),
    st.lists(st.integers(-4, 200), max_size=4).map(str),
)


@given(
    settings=st.lists(
        st.tuples(st.sampled_from([*_setting_names(), "train.nosuch", "nosection.key"]), VALUES),
        min_size=1,
        max_size=3,
    )
)
def test_random_recipe_settings_are_accepted_or_refused_in_one_line(settings):
    """Whatever the settings, ``train`` either reaches the run (replaced here by a recorder:
    what is tested is the checking, which must all happen before any work) or ends with
    exit code 2 and one line naming the problem."""
    import unetseg.recipes

    reached = []
    arguments = ["train", "quick", "--work-dir", os.devnull + "_unused"]
    for name, value in settings:
        arguments += ["--set", f"{name}={value}"]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(unetseg.recipes, "run", lambda config, *a, **k: reached.append(config))
        code, message = _main_quietly(arguments)
    if code == 0:
        assert len(reached) == 1
        assert message == ""
        config = reached[0]
        # What was accepted is a complete, consistent configuration.
        assert type(config).from_dict(config.to_dict()) == config
    else:
        assert code == 2, message
        (line,) = message.splitlines()
        assert line.startswith("unetseg train: error: ")
        assert not reached


@given(
    arguments=st.lists(
        st.text(min_size=1, max_size=10).filter(lambda a: not a.startswith("-")),
        min_size=2,
        max_size=3,
    )
)
def test_random_paths_to_evaluate_end_in_one_line(arguments, tmp_path_factory):
    folder = tmp_path_factory.mktemp("evaluate")
    code, message = _main_quietly(["evaluate", *arguments, "--output", str(folder / "m.csv")])
    assert code == 2, message
    (line,) = [line for line in message.splitlines() if line.strip()]
    assert line.startswith(("unetseg evaluate: error: ", "unetseg: error: "))
    assert not (folder / "m.csv").exists()
    assert Path(folder).is_dir()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--seed", "-1"], "seed must be an integer >= 0, got -1"),
        (["--shape", "8", "8", "8"], "at least 16"),
        (["--cases", "0"], "got 0"),
    ],
)
def test_synth_refuses_bad_settings_before_writing(tmp_path, capsys, arguments, message):
    code = main(["synth", str(tmp_path / "cases"), *arguments])
    _error(capsys, code, message)
    assert not (tmp_path / "cases").exists()
