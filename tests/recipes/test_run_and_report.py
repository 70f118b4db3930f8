"""The recipe's work directory and its evaluation: refusals that protect data and results."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from unetseg.data import find_brats_cases, write_synthetic_brats
from unetseg.errors import ConfigError, DataError
from unetseg.recipes import RecipeConfig, evaluate_predictions, run

SMALL = {"model": {"config": {"spatial_dims": 3, "features": [4, 8]}}}


def test_a_work_directory_of_other_settings_is_refused_before_anything_is_written(tmp_path):
    first = RecipeConfig.from_dict({**SMALL, "train": {"epochs": 3}})
    (tmp_path / "recipe.json").write_text(json.dumps(first.to_dict()))
    before = (tmp_path / "recipe.json").read_text()
    other = first.replace(train={"epochs": 5})
    with pytest.raises(ConfigError, match=r"train\.epochs: 3 → 5.*--force"):
        run(other, tmp_path)
    assert (tmp_path / "recipe.json").read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["recipe.json"]


@pytest.fixture(scope="module")
def truth(tmp_path_factory):
    root = tmp_path_factory.mktemp("truth")
    write_synthetic_brats(root, 1, shape=(24, 24, 16), seed=0, progress=False)
    (record,) = find_brats_cases(root, require_labels=True)
    return record


def _write_prediction(folder, record, affine=None):
    image = nib.load(record["label"])
    folder.mkdir(exist_ok=True)
    data = np.asarray(image.dataobj).astype(np.uint8)
    out = nib.Nifti1Image(data, image.affine if affine is None else affine)
    nib.save(out, folder / f"{record['id']}.nii.gz")
    return image.affine


def test_a_prediction_on_its_truths_grid_is_scored(tmp_path, truth):
    _write_prediction(tmp_path / "pred", truth)
    evaluation = evaluate_predictions(tmp_path / "pred", [truth])
    assert [evaluation.mean(region) for region in ("WT", "TC", "ET")] == [1.0, 1.0, 1.0]


def _shifted(affine):
    moved = affine.copy()
    moved[0, 3] += 10.0
    return moved


@pytest.mark.parametrize(
    "change",
    [
        _shifted,
        lambda affine: affine @ np.diag([-1.0, 1.0, 1.0, 1.0]),
        lambda affine: affine @ np.diag([2.0, 2.0, 2.0, 1.0]),
    ],
    ids=["shifted 10 mm", "flipped", "2 mm voxels"],
)
def test_a_prediction_on_another_grid_is_refused(tmp_path, truth, change):
    # These were scored silently (Dice 1.0 / 0.42 / 1.0) against the truth.
    affine = nib.load(truth["label"]).affine
    _write_prediction(tmp_path / "pred", truth, change(affine))
    with pytest.raises(DataError, match="different grids"):
        evaluate_predictions(tmp_path / "pred", [truth])


def test_a_corrupt_prediction_names_the_file(tmp_path, truth):
    (tmp_path / "pred").mkdir()
    path = tmp_path / "pred" / f"{truth['id']}.nii.gz"
    path.write_bytes(b"not a nifti file")
    with pytest.raises(DataError, match=str(path.name)):
        evaluate_predictions(tmp_path / "pred", [truth])


def test_a_resampled_recipe_predicts_on_each_cases_own_grid(tmp_path, truth):
    # data.spacing: the cases are resampled for the network, and the predictions come
    # back to the source grid; nothing is predicted outside the brain.
    from unetseg.recipes import build_predictor, preprocessing

    config = RecipeConfig.from_dict(
        {
            "model": {"config": {"spatial_dims": 3, "features": [4, 8]}},
            "train": {"patch_size": [8, 8, 8]},
            "data": {"spacing": [15.0, 15.0, 15.0]},
        }
    )
    prepared = preprocessing(True, config.task, config.data.spacing)(dict(truth))
    assert prepared["image_meta"]["applied"][0]["kind"] == "resample"
    source = nib.load(truth["image"][0])
    assert prepared["image"].shape[:3] < source.shape
    model = config.network.build()
    predictor = build_predictor(config, model)
    (path,) = predictor.predict([truth], tmp_path / "out", progress=False)
    written = nib.load(path)
    assert written.shape == source.shape
    np.testing.assert_allclose(written.affine, source.affine)
    labels = np.asarray(written.dataobj)
    assert set(np.unique(labels)) <= {0, 1, 2, 4}
    outside = np.asarray(source.dataobj) == 0
    assert not labels[outside].any()


def test_spacing_is_for_3d_recipes():
    with pytest.raises(ConfigError, match=r"data\.spacing must be three voxel sizes > 0"):
        RecipeConfig.from_dict({**SMALL, "data": {"spacing": [2.0, 0.0, 2.0]}})


def test_postprocessing_is_chosen_on_validation_cases_only_where_it_helps(tmp_path, truth):
    # A "model" that predicts the truth plus a stray enhancing island: keeping the
    # largest ET component (or a threshold) must win; nothing that lowers Dice is kept.
    from unetseg.inference import Predictor, SlidingWindowInferer
    from unetseg.recipes import choose_postprocessing
    from unetseg.recipes.postprocessing import PostprocessingChoice, save_choice
    from unetseg.task import BRATS_REGIONS
    from unetseg.transforms import EncodeLabelsd, LoadImaged

    truth_regions = BRATS_REGIONS.encode(np.asarray(nib.load(truth["label"]).dataobj))
    stray = truth_regions.astype(np.float32)
    stray[1, 1, 1] = 1.0  # WT, TC and ET far from the tumour (inside the brain? masked out)
    brain = np.asarray(nib.load(truth["image"][0]).dataobj) > 0
    inside = np.argwhere(brain & (truth_regions[..., 0] == 0))[0]
    stray[tuple(inside)] = 1.0

    def preprocess(record):
        loaded = LoadImaged(["image", "label"])(dict(record))
        loaded = EncodeLabelsd("label", task=BRATS_REGIONS)(loaded)
        return loaded

    def model(batch):  # logits of the stray prediction for the one window
        return np.where(stray[None] > 0.5, 10.0, -10.0).astype(np.float32)

    shape = stray.shape[:3]
    predictor = Predictor(
        model, SlidingWindowInferer(shape, batch_size=1), preprocess, task=BRATS_REGIONS
    )
    choice = choose_postprocessing(predictor, [truth], BRATS_REGIONS)
    assert choice.dice_before["ET"] < 1.0
    assert choice.dice_after["ET"] == pytest.approx(1.0)
    assert choice.dice_after["WT"] >= choice.dice_before["WT"]
    # Here the TC step (whose island falls back to oedema) removes it; the WT step is
    # not kept where the true tumour has satellites of its own.
    assert choice.largest_component or choice.min_enhancing_voxels > 0
    for region in ("WT", "TC", "ET"):
        assert choice.dice_after[region] >= choice.dice_before[region]
    path = save_choice(choice, tmp_path)
    assert PostprocessingChoice.read(path) == choice


def test_the_recipes_enhancing_threshold_stands_unless_validation_shows_a_better_one(truth):
    # A perfect "model": every threshold up to the true ET size ties, so the recipe's
    # prior stands; one above it deletes true enhancing tumour and is replaced.
    from unetseg.inference import Predictor, SlidingWindowInferer
    from unetseg.recipes import choose_postprocessing
    from unetseg.task import BRATS_REGIONS
    from unetseg.transforms import LoadImaged

    labels = np.asarray(nib.load(truth["label"]).dataobj)
    regions = BRATS_REGIONS.encode(labels)
    assert 0 < (labels == 4).sum() < 50

    def model(batch):
        return np.where(regions[None] > 0.5, 10.0, -10.0).astype(np.float32)

    predictor = Predictor(
        model,
        SlidingWindowInferer(regions.shape[:3], batch_size=1),
        LoadImaged(["image"]),
        task=BRATS_REGIONS,
    )
    kept = choose_postprocessing(predictor, [truth], BRATS_REGIONS, min_enhancing_voxels=20)
    assert kept.min_enhancing_voxels == 20
    assert kept.dice_after["ET"] == pytest.approx(1.0)
    replaced = choose_postprocessing(predictor, [truth], BRATS_REGIONS, min_enhancing_voxels=50)
    assert replaced.min_enhancing_voxels == 0
    assert replaced.dice_after["ET"] == pytest.approx(1.0)
