"""Recipe configuration: parsing, types, ranges, cross-section rules, overrides, splits."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from unetseg.errors import ConfigError, UnknownNameError
from unetseg.recipes import (
    RecipeConfig,
    apply_overrides,
    load_config,
    split_cases,
    window_size_warning,
)

CONFIGS = Path(__file__).resolve().parents[2] / "examples" / "brats2020" / "configs"
SHIPPED = sorted(CONFIGS.glob("*.toml"))
SMALL = {"model": {"config": {"spatial_dims": 3, "features": [8, 16]}}}


def small(**sections) -> RecipeConfig:
    return RecipeConfig.from_dict({**SMALL, **sections})


def test_the_three_recipes_are_shipped():
    assert [p.stem for p in SHIPPED] == ["3d_fullres", "3d_lowres", "quick", "seed_2d"]


@pytest.mark.backends
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_recipe_parses_and_builds_its_model(path):
    config = load_config(path)
    assert config.recipe.name == path.stem
    model = config.network.build()
    assert model.count_params() > 0
    if path.stem == "3d_fullres":
        assert model.count_params() == 31_198_991  # nnU-Net's 3D full-resolution network
        assert config.train.patch_size == (128, 128, 128)
        assert (config.train.batch_size, config.train.schedule) == (2, "poly")
    if path.stem == "3d_lowres":
        assert config.data.spacing == (2.0, 2.0, 2.0)
        assert config.window == config.train.patch_size == (48, 48, 48)
        # validation predicts as inference does: the same windows and overlap
        trainer = config.trainer_config()
        assert trainer.val_roi_size == config.window
        assert trainer.val_overlap == config.inference.overlap == 0.5
        changed = config.replace(inference={"overlap": 0.25}).trainer_config()
        assert changed.val_overlap == 0.25
        assert config.data.synthetic_shape == (240, 240, 155)  # full-size generated cases
    if path.stem == "seed_2d":
        assert model.count_params() == 7_759_908
        assert model.outputs[0].shape[-1] == 4
        assert config.task.name == "brats_classes"


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_a_recipe_round_trips_through_json_and_toml(path):
    config = load_config(path)
    assert RecipeConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config
    assert RecipeConfig.from_toml(config.to_toml()) == config


def test_overrides_use_toml_values():
    config = load_config(
        CONFIGS / "quick.toml",
        [
            "train.epochs=2",
            "train.patch_size=[16, 16, 16]",
            "inference.tta=true",
            "train.loss=dice",
            "train.patience=3",
        ],
    )
    assert config.train.epochs == 2
    assert config.train.patch_size == (16, 16, 16)
    assert config.inference.tta is True
    assert config.train.loss == "dice"
    assert apply_overrides(config, ["train.patience=none"]).train.patience is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[trian]\nepochs = 1", r"unknown section \[trian\]"),
        ("[train]\nepoch = 1", r"unknown setting train\.epoch\. Did you mean 'epochs'"),
        ("[train]\nepochs = 'ten'", r"train\.epochs must be an integer, got 'ten'"),
        ("[train]\nepochs = 0", r"train\.epochs must be >= 1, got 0"),
        ("[augment]\nflip = 1", r"augment\.flip must be true or false"),
        ("[inference]\noverlap = 1.0", r"inference\.overlap must be in \[0, 1\)"),
        ("[train\n", "not valid TOML"),
        ("train = 3", r"\[train\] must be a table"),
    ],
)
def test_mistakes_in_a_recipe_file_name_the_file_and_setting(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as error:
        load_config(path)
    assert str(path) in str(error.value)


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        # A patch the network's stride does not divide, or of the wrong dimension.
        ({"train": {"patch_size": [17, 16, 16]}}, r"train\.patch_size must be a multiple"),
        ({"train": {"patch_size": [16, 16]}}, r"train\.patch_size must have 3 sizes"),
        ({"inference": {"roi_size": [16, 16, 15]}}, r"inference\.roi_size must be a multiple"),
        # Warm-up longer than the run; warm-up without a schedule that has one.
        ({"train": {"epochs": 2, "warmup_epochs": 2}}, r"warmup_epochs must be fewer"),
        ({"train": {"warmup_epochs": 1}}, r"warmup_epochs needs schedule 'cosine'"),
        # Negative counts used to move test cases into training or switch to folds.
        ({"data": {"val_cases": -1}}, r"data\.val_cases must be >= 1"),
        ({"data": {"test_cases": -1}}, r"data\.test_cases must be >= 0"),
        ({"data": {"test_cases": 1.5}}, r"data\.test_cases must be an integer"),
        ({"data": {"fold": 5}}, r"data\.fold must be in 0–4"),
        ({"data": {"synthetic_cases": 4}}, r"synthetic_cases \(4\) must be at least 5"),
        ({"data": {"slice_range": [10, 20]}}, "slice_range and data.modalities are for 2D"),
        ({"model": {"task": "brats_classes"}}, r"3 output channels but the task"),
        ({"train": {"precision": "fp16"}}, "precision"),
    ],
)
def test_sections_are_checked_together(sections, message):
    with pytest.raises(ConfigError, match=message):
        small(**sections)


def test_unknown_names_suggest_close_ones():
    with pytest.raises(UnknownNameError, match="dice_ce"):
        small(train={"loss": "dice_cee"})
    with pytest.raises(UnknownNameError, match="brats_regions"):
        small(model={**SMALL["model"], "task": "brats_region"})


def test_bad_overrides_and_missing_files():
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        apply_overrides(RecipeConfig(), ["epochs=3"])
    with pytest.raises(ConfigError, match=r"unknown section \[trian\]"):
        apply_overrides(RecipeConfig(), ["trian.epochs=3"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("no/such/recipe.toml")


def test_splits_hold_out_test_cases_or_a_fold():
    records = [{"id": f"case{i:02d}"} for i in range(10)]
    data = small(data={"test_cases": 3, "val_cases": 2}).data
    train, val, test = split_cases(records, data, seed=0)
    assert (len(train), len(val), len(test)) == (5, 2, 3)
    assert not {r["id"] for r in test} & {r["id"] for r in train + val}
    assert split_cases(records, data, seed=0) == (train, val, test)  # deterministic
    folds = small(data={"test_cases": 0, "folds": 5, "fold": 1}).data
    train, val, test = split_cases(records, folds, seed=0)
    assert val == test
    assert len(val) == 2
    with pytest.raises(ConfigError, match="only 10 cases"):
        split_cases(records, small(data={"test_cases": 9, "synthetic_cases": 12}).data, seed=0)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_recipes_predict_with_windows_of_the_patch_size(path):
    assert window_size_warning(load_config(path)) is None


@pytest.mark.parametrize(
    ("norm", "warns"),
    [("instance", True), (["group", {"groups": 4}], True), ("batch", False), ("none", False)],
)
def test_windows_of_another_size_are_flagged_for_window_statistics(norm, warns):
    config = RecipeConfig.from_dict(
        {
            "model": {"config": {"spatial_dims": 3, "features": [8, 16], "norm": norm}},
            "train": {"patch_size": [32, 32, 32]},
            "inference": {"roi_size": [64, 64, 64]},
        }
    )
    warning = window_size_warning(config)
    assert (warning is not None) == warns
    if warns:
        assert "inference.roi_size [64, 64, 64]" in warning
        assert "train.patch_size [32, 32, 32]" in warning


def test_errors_of_the_training_settings_name_the_train_section():
    with pytest.raises(ConfigError, match=r"^train\.learning_rate must be > 0"):
        small(train={"learning_rate": 0})
    with pytest.raises(UnknownNameError, match=r"^train\.optimizer: Unknown optimizer 'adamm'"):
        small(train={"optimizer": "adamm"})
    with pytest.raises(UnknownNameError, match=r"^model\.preset: Unknown network 'nnunet3d'"):
        RecipeConfig.from_dict({"model": {"preset": "nnunet3d"}})
    with pytest.raises(ConfigError, match=r"recipe\.name must be a folder name"):
        small(recipe={"name": ".."})


def test_to_toml_writes_any_text_and_refuses_what_toml_cannot_hold():
    config = small(recipe={"description": 'two\nlines, "quoted", \u00e9'})
    assert RecipeConfig.from_toml(config.to_toml()) == config
    unset = RecipeConfig.from_dict(
        {"model": {"config": {"spatial_dims": 3, "features": [8, 16], "input_size": None}}}
    )
    with pytest.raises(ConfigError, match=r"model\.config\.input_size is None"):
        unset.to_toml()


def test_a_recipe_takes_a_datasets_task_and_channels_and_keeps_them():
    import tomllib

    from unetseg.task import Task

    task = Task.classes("lesions", {"background": 0, "lesion": 1})
    config = load_config(CONFIGS / "quick.toml").for_dataset(task, 2)
    assert config.task == task
    assert (config.network.in_channels, config.network.out_channels) == (2, 2)
    assert config.data.channels == 2
    assert RecipeConfig.from_dict(config.to_dict()) == config  # what recipe.json keeps
    assert RecipeConfig.from_dict(tomllib.loads(config.to_toml())) == config
    with pytest.raises(ConfigError, match="2D recipes read BraTS folders"):
        load_config(CONFIGS / "seed_2d.toml").for_dataset(task, 2)
