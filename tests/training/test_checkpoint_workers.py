"""WorkDirCheckpoint in a multi-worker run: the chief writes, every worker follows its
decisions (which decide the collective saves and the stop)."""

from __future__ import annotations

import keras
import pytest

from unetseg.training import WorkDirCheckpoint

pytestmark = pytest.mark.backends


@pytest.fixture
def model():
    built = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    built.compile(optimizer="sgd", loss="mse")
    return built


def epoch_end(callback, model, epoch, val_dice):
    callback.set_model(model)
    callback.on_epoch_begin(epoch)
    callback.on_epoch_end(epoch, {"loss": 0.5, "val_dice": val_dice})


def test_a_worker_that_is_not_the_chief_writes_nothing(model, tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    callback = WorkDirCheckpoint(work, chief=False)
    epoch_end(callback, model, 0, 0.5)
    assert list(work.iterdir()) == []
    assert callback.history[0]["val_dice"] == 0.5  # the history is kept in memory


def test_the_chiefs_decisions_are_followed(model, tmp_path):
    work = tmp_path / "run"
    work.mkdir()
    # The chief says "no improvement" though this worker's score improved: no best.keras.
    callback = WorkDirCheckpoint(work, patience=3, agree=lambda value: 0)
    epoch_end(callback, model, 0, 0.9)
    assert not (work / "best.keras").exists()
    assert (work / "last.keras").is_file()
    assert not model.stop_training
    # The chief says "stop" though this worker's patience is not used up.
    callback = WorkDirCheckpoint(work, patience=3, agree=lambda value: 1)
    epoch_end(callback, model, 0, 0.9)
    assert (work / "best.keras").is_file()
    assert model.stop_training
    assert callback.stopped_early
