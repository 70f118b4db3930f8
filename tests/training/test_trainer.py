"""The Trainer on tiny generated cases: learning, work directory, errors, precision."""

from __future__ import annotations

import json
import random

import keras
import numpy as np
import pytest

from unetseg.data import PatchDataset
from unetseg.errors import ConfigError
from unetseg.networks import UNetConfig
from unetseg.task import BRATS_CLASSES, BRATS_REGIONS
from unetseg.training import Trainer, TrainerConfig, TrainingError, read_history

BRATS = {"task": BRATS_REGIONS}


def tiny_config(**overrides) -> UNetConfig:
    values = {
        "spatial_dims": 3,
        "in_channels": 4,
        "out_channels": 3,
        "features": (8, 16),
        "norm": "instance",
    }
    return UNetConfig(**{**values, **overrides})


def patches(cases, steps=4, batch=4, seed=0):
    return PatchDataset(cases[:2], (16, 16, 16), batch_size=batch, steps_per_epoch=steps, seed=seed)


@pytest.mark.backends
def test_a_short_run_raises_dice_over_the_untrained_model(cached_cases, tmp_path):
    trainer = Trainer(
        tiny_config(),
        TrainerConfig(
            task="brats_regions",
            loss="dice_ce",
            optimizer="adamw",
            learning_rate=1e-2,
            schedule="constant",
            val_roi_size=(16, 16, 16),
        ),
        work_dir=tmp_path / "run",
        verbose=0,
    )
    held_out = cached_cases[2:]
    before = trainer.evaluate(held_out)
    history = trainer.fit(patches(cached_cases, steps=8), held_out, epochs=4)
    after = trainer.evaluate(held_out)
    assert after["val_dice_wt"] > before["val_dice_wt"] + 0.1, (before, after)
    assert after["val_dice"] > before["val_dice"]
    assert history[-1]["val_dice"] == pytest.approx(after["val_dice"], rel=1e-5)
    assert [row["epoch"] for row in history] == [1, 2, 3, 4]
    assert all(row["patches_per_s"] > 0 for row in history)
    assert history[-1]["loss"] < history[0]["loss"]


def test_the_work_directory_holds_the_run(cached_cases, tmp_path):
    work = tmp_path / "run"
    trainer = Trainer(tiny_config(deep_supervision=True), work_dir=work, verbose=0, **BRATS)
    trainer.fit(patches(cached_cases, steps=2), cached_cases[2:], epochs=2)
    assert sorted(p.name for p in work.iterdir()) == [
        "best.keras",
        "config.json",
        "history.csv",
        "last.keras",
    ]
    config = json.loads((work / "config.json").read_text())
    assert config["model"] == tiny_config(deep_supervision=True).to_dict()
    assert config["loss"]["class_name"] == "DiceCE"
    assert (config["epochs"], config["steps_per_epoch"], config["batch_size"]) == (2, 2, 4)
    assert TrainerConfig.from_dict(config["trainer"]) == trainer.config  # one line back
    assert config["trainer"]["schedule"] == "poly"
    assert config["trainer"]["task"]["name"] == "brats_regions"
    rows = read_history(work / "history.csv")
    assert len(rows) == 2
    assert {"loss", "val_dice_wt", "val_dice_tc", "val_dice_et", "learning_rate"} <= set(rows[0])
    # Both checkpoints load with no custom objects, in safe mode, optimiser included.
    last = keras.saving.load_model(work / "last.keras")
    assert int(keras.ops.convert_to_numpy(last.optimizer.iterations)) == 4
    image = np.random.default_rng(0).normal(size=(1, 16, 16, 16, 4)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(last(image)[0]),
        keras.ops.convert_to_numpy(trainer.model(image)[0]),
        atol=1e-5,
    )
    keras.saving.load_model(work / "best.keras")
    # Asking for the same epochs again trains nothing.
    again = Trainer(tiny_config(deep_supervision=True), work_dir=work, verbose=0, **BRATS)
    assert again.fit(patches(cached_cases, steps=2), cached_cases[2:], epochs=2) == rows
    assert len(read_history(work / "history.csv")) == 2


def test_another_configuration_is_refused_unless_forced(cached_cases, tmp_path):
    work = tmp_path / "run"
    Trainer(tiny_config(), work_dir=work, verbose=0, **BRATS).fit(
        patches(cached_cases, 1), epochs=1
    )
    other = Trainer(tiny_config(), work_dir=work, learning_rate=0.5, verbose=0, **BRATS)
    with pytest.raises(ConfigError, match=r"trainer\.learning_rate: 0\.01 → 0\.5"):
        other.fit(patches(cached_cases, 1), epochs=2)
    history = other.fit(patches(cached_cases, 1), epochs=2, force=True)
    assert len(history) == 2
    assert json.loads((work / "config.json").read_text())["trainer"]["learning_rate"] == 0.5


class NaNAfterFirstEpoch(keras.utils.PyDataset):
    def __init__(self, inner):
        super().__init__()
        self.inner, self.batch_size, self.patch_size = inner, inner.batch_size, inner.patch_size

    @property
    def epoch(self):
        return self.inner.epoch

    @epoch.setter
    def epoch(self, value):
        self.inner.epoch = value

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, index):
        x, y = self.inner[index]
        if self.inner.epoch >= 1:
            x = np.full_like(x, np.nan)
        return x, y

    def on_epoch_end(self):
        self.inner.on_epoch_end()


def test_a_nan_loss_stops_with_a_clear_message_and_keeps_the_last_good_epoch(
    cached_cases, tmp_path
):
    work = tmp_path / "run"
    trainer = Trainer(tiny_config(), work_dir=work, verbose=0, **BRATS)
    with pytest.raises(TrainingError, match=r"batch 1 of epoch 2.*holds epoch 1"):
        trainer.fit(NaNAfterFirstEpoch(patches(cached_cases, 2)), epochs=3)
    assert len(read_history(work / "history.csv")) == 1
    last = keras.saving.load_model(work / "last.keras")
    assert int(keras.ops.convert_to_numpy(last.optimizer.iterations)) == 2
    weights = [keras.ops.convert_to_numpy(w) for w in last.weights]
    assert all(np.isfinite(w).all() for w in weights)


def test_early_stopping(cached_cases, tmp_path):
    trainer = Trainer(
        tiny_config(),
        work_dir=tmp_path / "run",
        task="brats_regions",
        monitor="loss",
        monitor_mode="max",  # the loss falls, so it never "improves": stop after patience
        patience=1,
        verbose=0,
    )
    history = trainer.fit(patches(cached_cases, 2), epochs=6)
    assert len(history) == 2


@pytest.mark.backends
@pytest.mark.parametrize("precision", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_trains_with_a_float32_output(cached_cases, tmp_path, precision):
    trainer = Trainer(
        tiny_config(), work_dir=tmp_path / "run", precision=precision, verbose=0, **BRATS
    )
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    compute = {layer.dtype_policy.compute_dtype for layer in trainer.model.layers}
    assert precision.removeprefix("mixed_") in compute
    assert trainer.model.outputs[0].dtype == "float32"
    history = trainer.fit(patches(cached_cases, 2), cached_cases[2:], epochs=2)
    assert all(np.isfinite(row["loss"]) for row in history)
    if precision == "mixed_float16":
        assert isinstance(trainer.model.optimizer, keras.optimizers.LossScaleOptimizer)


def test_bad_configurations_raise_config_errors(cached_cases, tmp_path):
    work = tmp_path / "run"
    with pytest.raises(ConfigError, match="precision"):
        Trainer(tiny_config(), work_dir=work, precision="float16_mixed", **BRATS)
    built = tiny_config().build()
    with pytest.raises(ConfigError, match="dtype policy"):
        Trainer(built, work_dir=work, precision="mixed_bfloat16", **BRATS)
    with pytest.raises(ConfigError, match="data_parallel"):
        Trainer(built, work_dir=work, distribute="data_parallel", **BRATS)
    with pytest.raises(ConfigError, match="distribute"):
        Trainer(tiny_config(), work_dir=work, distribute="mirror", **BRATS)
    with pytest.raises(ConfigError, match="two devices"):
        Trainer(tiny_config(), work_dir=work, distribute="data_parallel", **BRATS)
    # TensorFlow: refused (Keras's fit cannot train under MultiWorkerMirroredStrategy);
    # JAX: this process has no KERAS_DISTRIBUTION_* variables to join a run with.
    with pytest.raises(ConfigError, match=r"multi_worker.*(JAX backend|KERAS_DISTRIBUTION_)"):
        Trainer(tiny_config(), work_dir=work, distribute="multi_worker", **BRATS)
    with pytest.raises(ConfigError, match="model"):
        Trainer({"spatial_dims": 3}, work_dir=work, **BRATS)
    with pytest.raises(ConfigError, match="learning_rate"):
        Trainer(tiny_config(), work_dir=work, learning_rate=0, **BRATS)
    with pytest.raises(ConfigError, match="val_every"):
        Trainer(tiny_config(), work_dir=work, val_every=0, **BRATS)
    with pytest.raises(ConfigError, match="task must be given"):
        Trainer(tiny_config(), work_dir=work)
    with pytest.raises(ConfigError, match="unknown setting val_mode"):
        Trainer(tiny_config(), work_dir=work, val_mode="argmax", **BRATS)
    with pytest.raises(ConfigError, match=r"4 \(background, NCR, ED, ET\)"):
        Trainer(tiny_config(), work_dir=work, task="brats_classes")
    with pytest.raises(ConfigError, match="ends in a softmax"):
        Trainer(tiny_config(output_activation="softmax"), work_dir=work, **BRATS)
    with pytest.raises(ConfigError, match="loss_options must not set an activation"):
        Trainer(tiny_config(), work_dir=work, loss_options={"activation": "softmax"}, **BRATS)
    with pytest.raises(ConfigError, match="warmup_epochs needs schedule 'cosine'"):
        Trainer(tiny_config(), work_dir=work, warmup_epochs=1, **BRATS)
    trainer = Trainer(built, work_dir=work, verbose=0, **BRATS)
    with pytest.raises(ConfigError, match="PyDataset"):
        trainer.fit([(np.zeros((1, 16, 16, 16, 4)), np.zeros((1, 16, 16, 16, 3)))], epochs=1)
    with pytest.raises(ConfigError, match="epochs"):
        trainer.fit(patches(cached_cases), epochs=0)
    with pytest.raises(ConfigError, match=r"no config\.json"):
        Trainer.resume(tmp_path / "nothing", patches(cached_cases))
    assert not (work / "last.keras").exists()


def test_the_task_sets_the_loss_metrics_and_validation(tmp_path):
    classes = UNetConfig(spatial_dims=2, in_channels=2, out_channels=4, features=(8, 16))
    trainer = Trainer(classes, work_dir=tmp_path, task=BRATS_CLASSES, loss="dice", verbose=0)
    assert (trainer.loss.activation, trainer.loss.from_logits) == ("softmax", True)
    assert (trainer.metrics[0].activation, trainer.metrics[0].num_channels) == ("softmax", 4)
    assert trainer.from_logits
    regions = Trainer(tiny_config(), work_dir=tmp_path / "r", loss="dice", verbose=0, **BRATS)
    assert (regions.loss.activation, regions.metrics[0].activation) == ("sigmoid", "sigmoid")


def test_a_model_that_outputs_probabilities_is_not_activated_again(tmp_path):
    # A softmax-output model (the seed_2d preset) used to get softmax applied a second
    # time by Trainer.predict, flattening its probabilities towards 1/4.
    config = UNetConfig(
        spatial_dims=2,
        in_channels=2,
        out_channels=4,
        features=(8, 16),
        input_size=(16, 16),
        output_activation="softmax",
    )
    trainer = Trainer(config, work_dir=tmp_path, task=BRATS_CLASSES, loss="dice", verbose=0)
    assert not trainer.from_logits
    assert trainer.loss.from_logits is False
    assert trainer.metrics[0].from_logits is False
    image = np.random.default_rng(0).normal(size=(16, 16, 2)).astype("float32")
    predicted = trainer.predict(image)
    direct = keras.ops.convert_to_numpy(trainer.model(image[None]))[0]
    np.testing.assert_allclose(predicted, direct, atol=1e-5)


def test_resume_takes_overrides(cached_cases, tmp_path):
    # Any override but devices/verbose used to raise TypeError (keywords passed twice).
    work = tmp_path / "run"
    Trainer(tiny_config(), work_dir=work, verbose=0, **BRATS).fit(
        patches(cached_cases, 1), epochs=1
    )
    trainer, history = Trainer.resume(
        work, patches(cached_cases, 1), val_every=2, epochs=4, verbose=0
    )
    assert trainer.config.val_every == 2
    assert len(history) == 4
    assert json.loads((work / "config.json").read_text())["trainer"]["val_every"] == 2
    # The longer run has a longer schedule: the file's optimiser had reached rate 0.
    assert history[0]["learning_rate"] == 0.0
    assert history[1]["learning_rate"] > 0.001
    assert int(keras.ops.convert_to_numpy(trainer.model.optimizer.iterations)) == 4


def test_a_forced_run_cannot_change_the_network(cached_cases, tmp_path):
    work = tmp_path / "run"
    Trainer(tiny_config(), work_dir=work, verbose=0, **BRATS).fit(
        patches(cached_cases, 1), epochs=1
    )
    other = Trainer(tiny_config(features=(8, 32)), work_dir=work, verbose=0, **BRATS)
    with pytest.raises(ConfigError, match=r"another network.*model\.features"):
        other.fit(patches(cached_cases, 1), epochs=2, force=True)


def test_options_that_contradict_the_model_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="from_logits=False contradicts the model"):
        Trainer(tiny_config(), work_dir=tmp_path, loss_options={"from_logits": False}, **BRATS)
    with pytest.raises(ConfigError, match="not a mix"):
        Trainer(
            tiny_config(), work_dir=tmp_path, metrics=["dice", keras.metrics.MeanIoU(3)], **BRATS
        )
    with pytest.raises(ConfigError, match=r"loss=\.\.\."):
        Trainer(tiny_config(), "dice_ce", work_dir=tmp_path, **BRATS)


@pytest.mark.backends
def test_epoch_start_seeds_each_epoch_and_tensorflow_once_per_fit(monkeypatch):
    """Epoch ``e`` draws the same random numbers whatever came before; on TensorFlow the
    backend's global seed (which clears its kernel caches) is set at a fit's first epoch."""
    from unetseg.training import EpochStart

    calls = []
    seed_everything = keras.utils.set_random_seed
    monkeypatch.setattr(
        keras.utils, "set_random_seed", lambda seed: calls.append(seed) or seed_everything(seed)
    )

    class Data:
        epoch = 0

    data = Data()
    callback = EpochStart(7, data)
    callback.on_train_begin()
    draws = []
    for epoch in range(3):
        callback.on_epoch_begin(epoch)
        draws.append(random.random())
    assert data.epoch == 2
    assert len(calls) == (1 if keras.backend.backend() == "tensorflow" else 3)
    resumed = EpochStart(7, Data())  # a run resumed at epoch 2
    resumed.on_train_begin()
    resumed.on_epoch_begin(2)
    assert random.random() == draws[2]
    assert len(calls) == (2 if keras.backend.backend() == "tensorflow" else 4)
