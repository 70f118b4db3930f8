"""Recipe files: parsing, overrides, checks, splits; every shipped recipe builds its model."""

from __future__ import annotations

from pathlib import Path

import pytest

from unetseg.errors import ConfigError
from unetseg.recipe import (
    DEFAULTS,
    apply_overrides,
    build_model_config,
    load_config,
    split_cases,
    window_size_warning,
)

CONFIGS = Path(__file__).resolve().parents[1] / "examples" / "brats2020" / "configs"
SHIPPED = sorted(CONFIGS.glob("*.toml"))


def test_the_three_recipes_are_shipped():
    assert [p.stem for p in SHIPPED] == ["3d_fullres", "quick", "seed_2d"]


@pytest.mark.backends
@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_every_recipe_parses_and_builds_its_model(path):
    config = load_config(path)
    assert config["recipe"]["name"] == path.stem
    model = build_model_config(config).build()
    assert model.count_params() > 0
    if path.stem == "3d_fullres":
        assert model.count_params() == 31_198_991  # nnU-Net's 3D full-resolution network
        assert config["train"]["patch_size"] == [128, 128, 128]
        assert (config["train"]["batch_size"], config["train"]["schedule"]) == (2, "poly")
    if path.stem == "seed_2d":
        assert model.count_params() == 7_759_908
        assert model.outputs[0].shape[-1] == 4


def test_overrides_use_toml_values(tmp_path):
    config = load_config(
        CONFIGS / "quick.toml",
        [
            "train.epochs=2",
            "train.patch_size=[16, 16, 16]",
            "inference.tta=true",
            "train.loss=dice",
        ],
    )
    assert config["train"]["epochs"] == 2
    assert config["train"]["patch_size"] == [16, 16, 16]
    assert config["inference"]["tta"] is True
    assert config["train"]["loss"] == "dice"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[trian]\nepochs = 1", r"unknown section \[trian\]"),
        ("[train]\nepoch = 1", r"unknown setting train\.epoch"),
        ("[train]\nepochs = 'ten'", r"train\.epochs must be a number"),
        ("[augment]\nflip = 1", r"augment\.flip must be true or false"),
        ("[train\n", "not valid TOML"),
    ],
)
def test_mistakes_in_a_recipe_file_name_the_file_and_setting(tmp_path, text, message):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(path)


def test_bad_overrides_and_missing_files():
    with pytest.raises(ConfigError, match=r"section\.key=value"):
        apply_overrides(DEFAULTS, ["epochs=3"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config("no/such/recipe.toml")


def test_splits_hold_out_test_cases_or_a_fold():
    records = [{"id": f"case{i:02d}"} for i in range(10)]
    config = apply_overrides(DEFAULTS, ["data.test_cases=3", "data.val_cases=2"])
    train, val, test = split_cases(records, config)
    assert (len(train), len(val), len(test)) == (5, 2, 3)
    assert not {r["id"] for r in test} & {r["id"] for r in train + val}
    assert split_cases(records, config) == (train, val, test)  # deterministic
    folds = apply_overrides(DEFAULTS, ["data.test_cases=0", "data.folds=5", "data.fold=1"])
    train, val, test = split_cases(records, folds)
    assert val == test
    assert len(val) == 2
    with pytest.raises(ConfigError, match="only 10 cases"):
        split_cases(records, apply_overrides(DEFAULTS, ["data.test_cases=9"]))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_recipes_predict_with_windows_of_the_patch_size(path):
    assert window_size_warning(load_config(path)) is None


@pytest.mark.parametrize(
    ("norm", "warns"),
    [
        ('"instance"', True),
        ('["group", {groups = 4}]', True),
        ('"batch"', False),
        ('"none"', False),
    ],
)
def test_windows_of_another_size_are_flagged_for_window_statistics(norm, warns):
    model = f"model.config={{spatial_dims = 3, features = [8, 16], norm = {norm}}}"
    overrides = [model, "train.patch_size=[32, 32, 32]", "inference.roi_size=[64, 64, 64]"]
    warning = window_size_warning(apply_overrides(DEFAULTS, overrides))
    assert (warning is not None) == warns
    if warns:
        assert "inference.roi_size [64, 64, 64]" in warning
        assert "train.patch_size [32, 32, 32]" in warning
