"""Which Keras backend starts (``unetseg.backends``), and unetseg without TensorFlow."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from unetseg import backends
from unetseg.backends import (
    choose_backend,
    configured_backend,
    enable_onednn,
    installed_backends,
)

from .test_cli import TINY


@pytest.fixture
def fresh(monkeypatch, tmp_path):
    """A process state before Keras starts: no KERAS_BACKEND, an empty Keras home."""
    # setenv first, so that monkeypatch restores the variable's state, set or not,
    # whatever choose_backend sets in a test.
    monkeypatch.setenv("KERAS_BACKEND", "")
    monkeypatch.delenv("KERAS_BACKEND")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.delitem(sys.modules, "keras", raising=False)
    return tmp_path


def hide(monkeypatch, *modules):
    for module in modules:  # find_spec and import both see "not installed"
        monkeypatch.setitem(sys.modules, module, None)


def test_the_configured_backend_is_the_variable_then_keras_json_then_tensorflow(fresh, monkeypatch):
    assert configured_backend() == "tensorflow"
    (fresh / "keras.json").write_text(json.dumps({"backend": "torch"}))
    assert configured_backend() == "torch"
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    assert configured_backend() == "jax"
    (fresh / "keras.json").write_text("{not json")
    monkeypatch.delenv("KERAS_BACKEND")
    assert configured_backend() == "tensorflow"


def test_an_installed_configured_backend_is_left_alone(fresh):
    assert "tensorflow" in installed_backends()
    assert choose_backend() is None
    assert "KERAS_BACKEND" not in os.environ


def test_without_tensorflow_the_first_installed_backend_is_chosen(fresh, monkeypatch):
    hide(monkeypatch, "tensorflow")
    assert installed_backends()[0] == "jax"
    assert choose_backend() == "jax"
    assert os.environ["KERAS_BACKEND"] == "jax"


def test_keras_json_written_by_keras_itself_does_not_pin_a_missing_backend(fresh, monkeypatch):
    # Keras writes "tensorflow" into a new keras.json whether or not it is installed.
    (fresh / "keras.json").write_text(json.dumps({"backend": "tensorflow"}))
    hide(monkeypatch, "tensorflow", "jax", "torch")
    monkeypatch.setitem(backends.BACKENDS, "json", "json")  # stands in for an installed one
    assert choose_backend() == "json"


def test_onednn_is_turned_on_before_tensorflow_starts(monkeypatch):
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "")  # restored afterwards, set or not
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    assert enable_onednn() is True
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"


def test_a_users_onednn_choice_and_a_started_tensorflow_are_left_alone(monkeypatch):
    monkeypatch.delitem(sys.modules, "tensorflow", raising=False)
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    assert enable_onednn() is False
    assert os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS")
    monkeypatch.setitem(sys.modules, "tensorflow", object())  # started: too late
    assert enable_onednn() is False
    assert "TF_ENABLE_ONEDNN_OPTS" not in os.environ


def test_tensorflow_started_after_import_unetseg_runs_onednn_kernels():
    pytest.importorskip("tensorflow")
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    env["TF_CPP_MIN_LOG_LEVEL"] = "0"  # TensorFlow says on start-up that oneDNN is on
    code = "import unetseg, tensorflow"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "oneDNN custom operations are on" in result.stderr


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ({"KERAS_BACKEND": "tensorflow"}, "a backend the user set is never changed"),
        ({"keras_imported": True}, "Keras has started: too late to choose"),
        ({"keras.json": "numpy"}, "a Keras backend without a package of its own"),
        ({}, "no backend installed at all: Keras' own error follows"),
    ],
)
def test_cases_where_the_choice_is_left_to_keras(fresh, monkeypatch, state, why):
    hide(monkeypatch, "tensorflow", "jax", "torch") if not state else hide(
        monkeypatch, "tensorflow"
    )
    if "KERAS_BACKEND" in state:
        monkeypatch.setenv("KERAS_BACKEND", state["KERAS_BACKEND"])
    if "keras_imported" in state:
        monkeypatch.setitem(sys.modules, "keras", object())
    if "keras.json" in state:
        (fresh / "keras.json").write_text(json.dumps({"backend": state["keras.json"]}))
    before = os.environ.get("KERAS_BACKEND")
    assert choose_backend() is None, why
    assert os.environ.get("KERAS_BACKEND") == before


def run_without(modules, *arguments, tmp_path, timeout=900):
    """``unetseg ARGUMENTS`` in a process where ``modules`` are not installed."""
    script = (
        "import sys\n"
        "for name in sys.argv[1].split(','):\n"
        "    sys.modules[name] = None\n"
        "from unetseg.cli import main\n"
        "code = main(sys.argv[2:])\n"
        "assert sys.modules.get('tensorflow') is None\n"
        "if 'keras' in sys.modules:\n"
        "    print('backend:', sys.modules['keras'].backend.backend())\n"
        "sys.exit(code)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(tmp_path / "keras-home")
    return subprocess.run(
        [sys.executable, "-c", script, ",".join(modules), *map(str, arguments)],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=tmp_path,
    )


def test_with_no_backend_installed_train_names_the_extras(tmp_path):
    result = run_without(
        ["tensorflow", "jax", "torch"], "train", "quick", "--work-dir", "run", tmp_path=tmp_path
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "No Keras backend is installed" in lines[0]
    assert '"unetseg[tensorflow]", "unetseg[jax]", "unetseg[torch]"' in lines[0]
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("UNETSEG_CI_RUNS_JAX_ONLY_INSTALL") == "1",
    reason="CI's second step runs the same commands in a fresh install without TensorFlow",
)
def test_the_quick_recipe_predict_and_evaluate_run_without_tensorflow(tmp_path):
    data = tmp_path / "data"
    hidden = ["tensorflow"]
    result = run_without(
        hidden, "synth", data, "--cases", 4, "--shape", 32, 32, 24, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    work = tmp_path / "run"
    result = run_without(
        hidden, "train", "quick", "--data", data, "--work-dir", work, *TINY, tmp_path=tmp_path
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "backend: jax" in result.stdout
    assert (work / "best.keras").is_file()
    predictions = tmp_path / "predictions"
    result = run_without(hidden, "predict", work, data, predictions, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list(predictions.glob("*.nii.gz"))) == 4
    result = run_without(hidden, "evaluate", predictions, data, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "4 cases" in result.stdout
