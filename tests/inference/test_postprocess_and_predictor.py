"""Post-processing to BraTS labels, geometry restoration, NIfTI output, the Predictor."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pytest

from unetseg.errors import ConfigError, DataError
from unetseg.inference import (
    BratsPostprocess,
    LabelMapPostprocess,
    Predictor,
    SlidingWindowInferer,
    brats_submission_name,
    probabilities_to_brats_labels,
    restore_geometry,
    suppress_small_enhancing,
    write_label_map,
)
from unetseg.regions import labels_to_regions
from unetseg.transforms import Compose, CropForegroundd, LoadImaged, SpatialPadd

# A non-canonical affine (x flipped, y and z swapped, 1.5 mm slices): every geometry
# step has something to undo.
AFFINE = np.array(
    [[-1.0, 0, 0, 120.0], [0, 0, 1.5, -100.0], [0, 1.0, 0, -80.0], [0, 0, 0, 1]], dtype=float
)


@pytest.mark.parametrize(
    ("wt", "tc", "et", "label"),
    [
        (0.9, 0.9, 0.9, 4),
        (0.9, 0.9, 0.1, 1),
        (0.9, 0.1, 0.1, 2),
        (0.1, 0.1, 0.1, 0),
        (0.1, 0.1, 0.9, 4),  # not nested: the innermost region wins
        (0.1, 0.9, 0.1, 1),
        (0.5, 0.5, 0.5, 0),  # the threshold itself is outside
    ],
)
def test_probabilities_to_labels_by_hand(wt, tc, et, label):
    assert probabilities_to_brats_labels(np.array([[wt, tc, et]]))[0] == label


def test_labels_survive_the_round_trip_through_regions(tumour_labels):
    probabilities = labels_to_regions(tumour_labels).astype(np.float32)
    np.testing.assert_array_equal(probabilities_to_brats_labels(probabilities), tumour_labels)


def test_small_enhancing_tumour_is_relabelled_necrosis():
    labels = np.zeros((10, 10, 10), np.uint8)
    labels[1, 1, 1] = 4  # a stray voxel
    labels[5:8, 5:8, 5:8] = 4  # 27 voxels
    labels[4, 5:8, 5:8] = 1
    total = suppress_small_enhancing(labels, 30)
    assert (total == 4).sum() == 0
    assert (total == 1).sum() == 9 + 28
    assert (suppress_small_enhancing(labels, 28) == 4).sum() == 28  # 28 voxels: kept
    components = suppress_small_enhancing(labels, 2, per_component=True)
    assert components[1, 1, 1] == 1
    assert (components == 4).sum() == 27
    # Diagonal neighbours are one component (26-connectivity).
    diagonal = np.zeros((4, 4, 4), np.uint8)
    diagonal[0, 0, 0] = diagonal[1, 1, 1] = 4
    assert (suppress_small_enhancing(diagonal, 2, per_component=True) == 4).sum() == 2
    # The input is not modified; 0 turns the step off.
    assert (labels == 4).sum() == 28
    np.testing.assert_array_equal(suppress_small_enhancing(labels, 0), labels)
    with pytest.raises(ConfigError, match="min_voxels"):
        suppress_small_enhancing(labels, -1)


def test_submission_name():
    assert brats_submission_name("BraTS20_Validation_007") == "BraTS20_Validation_007.nii.gz"
    with pytest.raises(DataError):
        brats_submission_name("../escape/x")


def _write_case(folder, labels, brain):
    """Four channels encoding the regions as intensities (so a fixed function segments)."""
    folder.mkdir(parents=True, exist_ok=True)
    regions = labels_to_regions(labels).astype(np.float32)
    channels = [brain * 1.0 + 10 * regions[..., i] for i in range(3)] + [brain * 1.0]
    paths = []
    for name, data in zip(("flair", "t1", "t1ce", "t2"), channels, strict=True):
        path = folder / f"{folder.name}_{name}.nii.gz"
        nib.save(nib.Nifti1Image(data.astype(np.float32), AFFINE), str(path))
        paths.append(str(path))
    return {"id": folder.name, "image": paths}


def _region_logits(batch):
    """In-region voxels have value 11 (logit 6); brain 1 (-4); outside/padding 0 (-5)."""
    return batch[..., :3] - 5.0


@pytest.fixture
def case(tmp_path, tumour_labels):
    brain = np.zeros(tumour_labels.shape, bool)
    brain[3:30, 2:31, 1:23] = True
    return _write_case(tmp_path / "BraTS20_Validation_001", tumour_labels, brain), tumour_labels


@pytest.mark.parametrize("canonical", [False, True])
def test_predictor_writes_the_labels_on_the_source_grid(tmp_path, case, canonical):
    record, labels = case
    preprocess = Compose(
        [
            LoadImaged("image", as_closest_canonical=canonical),
            CropForegroundd("image", margin=1),
            SpatialPadd("image", 40),
        ]
    )
    predictor = Predictor(
        _region_logits,
        SlidingWindowInferer((16, 16, 16), overlap=0.5, batch_size=4, tta=True),
        preprocess,
        task="brats_regions",
    )
    output = tmp_path / "predictions"
    paths = predictor.predict([record], output, progress=False)
    assert paths == [output / "BraTS20_Validation_001.nii.gz"]
    written = nib.load(str(paths[0]))
    np.testing.assert_allclose(written.affine, AFFINE)
    assert written.get_data_dtype() == np.uint8
    np.testing.assert_array_equal(np.asarray(written.dataobj), labels)


@pytest.mark.backends
@pytest.mark.parametrize("blending", ["numpy", "device"])
def test_predictor_with_a_keras_model_blended_on_the_host_or_the_device(tmp_path, case, blending):
    import keras

    record, labels = case
    inputs = keras.Input((None, None, None, 4))
    model = keras.Model(inputs, keras.layers.Lambda(_region_logits)(inputs))
    preprocess = Compose([LoadImaged("image"), CropForegroundd("image", margin=1)])
    inferer = SlidingWindowInferer((16, 16, 16), batch_size=4, tta=True, blending=blending)
    predictor = Predictor(model, inferer, preprocess, task="brats_regions")
    decoded = []  # the label maps the inferer decoded (on the device, with device blending)
    label_map = inferer.label_map
    inferer.label_map = lambda *args, **kwargs: decoded.append(1) or label_map(*args, **kwargs)
    (path,) = predictor.predict([record], tmp_path / "predictions", progress=False)
    assert inferer.uses_device(model) == (blending == "device")
    assert len(decoded) == (blending == "device")  # a crop only: decoded before restoring
    np.testing.assert_array_equal(np.asarray(nib.load(str(path)).dataobj), labels)


def test_predictor_skips_written_cases_unless_told(tmp_path, case):
    record, _ = case
    calls = []

    def counting(batch):
        calls.append(1)
        return _region_logits(batch)

    predictor = Predictor(
        counting, SlidingWindowInferer((16, 16, 16), batch_size=8), task="brats_regions"
    )
    output = tmp_path / "out"
    predictor.predict([record], output, progress=False)
    first = len(calls)
    assert first > 0
    before = (output / "BraTS20_Validation_001.nii.gz").stat().st_mtime_ns
    predictor.predict([record], output, progress=False)
    assert len(calls) == first
    assert (output / "BraTS20_Validation_001.nii.gz").stat().st_mtime_ns == before
    predictor.predict([record], output, overwrite=True, progress=False)
    assert len(calls) == 2 * first
    assert sorted(p.name for p in output.iterdir()) == [
        "BraTS20_Validation_001.nii.gz",
        "predictions.json",
    ]


def _counting_predictor():
    calls = []

    def counting(batch):
        calls.append(1)
        return _region_logits(batch)

    inferer = SlidingWindowInferer((16, 16, 16), batch_size=8)
    return Predictor(counting, inferer, task="brats_regions"), calls


def test_predictor_refuses_files_it_did_not_write_before_predicting(tmp_path, case):
    record, _ = case
    predictor, calls = _counting_predictor()
    output = tmp_path / "out"
    output.mkdir()
    stale = output / "BraTS20_Validation_001.nii.gz"
    stale.write_bytes(b"garbage")
    with pytest.raises(DataError, match=r"BraTS20_Validation_001.nii.gz \(not written by"):
        predictor.predict([record], output, progress=False)
    assert calls == []
    assert stale.read_bytes() == b"garbage"
    predictor.predict([record], output, overwrite=True, progress=False)
    assert nib.load(str(stale)).shape == record_shape(record)


def record_shape(record):
    return nib.load(str(record["image"][0])).shape


def test_predictor_refuses_files_of_other_settings_or_changed_since(tmp_path, case):
    record, _ = case
    predictor, calls = _counting_predictor()
    output = tmp_path / "out"
    predictor.predict([record], output, progress=False, provenance={"tta": False})
    done = len(calls)
    predictor.predict([record], output, progress=False, provenance={"tta": False})
    assert len(calls) == done  # resumed: nothing to do
    with pytest.raises(DataError, match="another model or other settings"):
        predictor.predict([record], output, progress=False, provenance={"tta": True})
    written = output / "BraTS20_Validation_001.nii.gz"
    written.write_bytes(written.read_bytes()[:-10])  # truncated since
    with pytest.raises(DataError, match="changed since it was written"):
        predictor.predict([record], output, progress=False, provenance={"tta": False})
    assert len(calls) == done


def test_a_damaged_manifest_is_named(tmp_path, case):
    record, _ = case
    predictor, _ = _counting_predictor()
    output = tmp_path / "out"
    output.mkdir()
    (output / "predictions.json").write_text("{not json")
    with pytest.raises(DataError, match=r"predictions\.json is not a prediction manifest"):
        predictor.predict([record], output, progress=False)


def test_predictor_refuses_bad_records_and_models(tmp_path, case):
    record, _ = case
    inferer = SlidingWindowInferer((16, 16, 16))
    with pytest.raises(DataError, match="does not exist"):
        Predictor(tmp_path / "missing.keras", inferer, task="brats_regions")
    with pytest.raises(ConfigError, match="SlidingWindowInferer"):
        Predictor(_region_logits, (16, 16, 16), task="brats_regions")
    with pytest.raises(ConfigError, match="task="):
        Predictor(_region_logits, inferer)
    predictor = Predictor(_region_logits, inferer, task="brats_regions")
    with pytest.raises(DataError, match="no 'id'"):
        predictor.predict([{"image": record["image"]}], tmp_path, progress=False)
    with pytest.raises(DataError, match="unique"):
        predictor.predict([record, record], tmp_path, progress=False)
    broken = Predictor(
        _region_logits, inferer, preprocess=lambda r: {"id": r["id"]}, task="brats_regions"
    )
    with pytest.raises(DataError, match="BraTS20_Validation_001"):
        broken.predict([record], tmp_path / "x", progress=False)
    assert not (tmp_path / "x").exists()


def test_restore_geometry_undoes_crops_and_pads(tumour_labels):
    record = {"image": tumour_labels[..., None].astype(np.float32)}
    record["image_meta"] = {"spatial_shape": tumour_labels.shape}
    prepared = Compose([CropForegroundd("image"), SpatialPadd("image", 24)])(record)
    restored = restore_geometry(prepared["image"], prepared["image_meta"])
    np.testing.assert_array_equal(restored[..., 0], tumour_labels)
    with pytest.raises(DataError, match="shape"):
        restore_geometry(prepared["image"], {**prepared["image_meta"], "spatial_shape": (1, 2, 3)})


def test_write_label_map_checks_its_input(tmp_path, tumour_labels):
    path = write_label_map(tumour_labels, tmp_path / "a.nii.gz")
    np.testing.assert_array_equal(np.asarray(nib.load(str(path)).dataobj), tumour_labels)
    with pytest.raises(DataError, match="integers"):
        write_label_map(tumour_labels.astype(np.float32), tmp_path / "b.nii.gz")
    with pytest.raises(DataError, match="integers"):
        write_label_map(np.full((2, 2, 2), 300), tmp_path / "c.nii.gz")
    assert not (tmp_path / "b.nii.gz").exists()


def test_brats_postprocess_options_are_checked():
    with pytest.raises(ConfigError, match="threshold"):
        BratsPostprocess(threshold=2)
    with pytest.raises(ConfigError, match="min_enhancing_voxels"):
        BratsPostprocess(min_enhancing_voxels=-3)
    post = BratsPostprocess(min_enhancing_voxels=5)
    probabilities = np.zeros((4, 4, 4, 3), np.float32)
    probabilities[0, 0, 0] = 0.9
    assert post(probabilities)[0, 0, 0] == 1


def test_a_probability_model_is_not_given_a_second_activation(tmp_path):
    import keras

    from unetseg.networks import UNetConfig

    model = UNetConfig(
        spatial_dims=2, in_channels=1, out_channels=4, features=(4, 8), output_activation="softmax"
    ).build()
    with pytest.raises(ConfigError, match="already ends in a softmax"):
        Predictor(model, SlidingWindowInferer((16, 16), activation="softmax"), task="brats_classes")
    Predictor(model, SlidingWindowInferer((16, 16), activation=None), task="brats_classes")
    assert isinstance(model, keras.Model)


def test_label_map_postprocess_follows_the_task():
    from unetseg.task import Task

    task = Task.regions("liver", {"liver": [1, 2], "tumour": [2]})
    probabilities = np.array([[0.9, 0.1], [0.9, 0.8], [0.2, 0.1]])
    assert LabelMapPostprocess(task)(probabilities).tolist() == [1, 2, 0]
    with pytest.raises(ConfigError, match="BraTS task"):
        BratsPostprocess(task=task)
    classes = BratsPostprocess(task="brats_classes", min_enhancing_voxels=2)
    assert classes(np.array([[0.0, 0.0, 0.1, 0.9], [0.9, 0.0, 0.1, 0.0]])).tolist() == [1, 0]


def test_a_label_map_predicted_on_a_resampled_image_comes_back_with_its_labels():
    from unetseg.transforms import Spacingd

    image = np.zeros((12, 12, 8, 1), np.float32)
    record = {"image": image, "image_meta": {"spacing": (1.0, 1.0, 1.0)}}
    out = Spacingd("image", pixdim=(2.0, 1.5, 1.0))(record)  # recorded with order 1
    assert out["image_meta"]["applied"][0]["order"] == 1
    rng = np.random.default_rng(0)
    labels = rng.choice(np.array([0, 1, 2, 4]), size=(*out["image"].shape[:-1], 4)).astype(float)
    one_hot = np.eye(4)[np.searchsorted([0, 1, 2, 4], labels[..., 0])]
    restored = LabelMapPostprocess("brats_classes")(one_hot, out["image_meta"])
    assert restored.shape == (12, 12, 8)
    assert set(np.unique(restored)) <= {0, 1, 2, 4}


def test_keep_largest_component_falls_back_to_the_enclosing_region():
    from unetseg.inference import keep_largest_component

    labels = np.zeros((12, 12, 12), np.uint8)
    labels[1:6, 1:6, 1:6] = 2  # the tumour: oedema ...
    labels[2:5, 2:5, 2:5] = 4  # ... around an enhancing core
    labels[9, 9, 9] = 4  # a stray ET island far away
    labels[8, 1, 1] = 1  # a stray TC island
    only_et = keep_largest_component(labels, "brats_regions", ["ET"])
    assert only_et[9, 9, 9] == 1  # left ET, still tumour core
    only_tc = keep_largest_component(labels, "brats_regions", ["TC"])
    assert (only_tc[9, 9, 9], only_tc[8, 1, 1]) == (2, 2)  # left TC, still whole tumour
    only_wt = keep_largest_component(labels, "brats_regions", ["WT"])
    assert (only_wt[9, 9, 9], only_wt[8, 1, 1]) == (0, 0)
    assert (only_wt[1:6, 1:6, 1:6] == labels[1:6, 1:6, 1:6]).all()
    with pytest.raises(ConfigError, match="no channel 'NCR'"):
        keep_largest_component(labels, "brats_regions", ["NCR"])


def test_a_brats_2023_case_is_written_and_scored_in_its_own_labels(tmp_path, case):
    from unetseg.inference import evaluate_predictions

    record, labels = case
    assert 4 in labels
    record = {**record, "label_convention": "brats2023"}
    predictor = Predictor(_region_logits, SlidingWindowInferer((16, 16, 16)), task="brats_regions")
    (path,) = predictor.predict([record], tmp_path / "out", progress=False)
    written = np.asarray(nib.load(str(path)).dataobj)
    expected = labels.copy()
    expected[labels == 4] = 3
    np.testing.assert_array_equal(written, expected)
    # Its truth in the 2023 labels too: scored as a perfect prediction.
    truth = tmp_path / "truth.nii.gz"
    nib.save(nib.Nifti1Image(expected.astype(np.uint8), AFFINE), str(truth))
    evaluation = evaluate_predictions(tmp_path / "out", [{**record, "label": str(truth)}])
    assert [evaluation.mean(region) for region in ("WT", "TC", "ET")] == [1.0, 1.0, 1.0]


@pytest.mark.parametrize("outside_is_background", [True, False])
def test_predictor_predicts_background_where_the_input_is_empty(
    tmp_path, case, outside_is_background, monkeypatch
):
    import unetseg.inference.predictor as predictor_module

    record, labels = case
    brain = np.asarray(nib.load(record["image"][3]).dataobj) > 0
    reads = []  # the source files' empty voxels, read ahead while the case is predicted
    read = predictor_module._empty_voxels
    monkeypatch.setattr(
        predictor_module, "_empty_voxels", lambda paths: reads.append(paths) or read(paths)
    )
    predictor = Predictor(
        lambda batch: np.full((*batch.shape[:-1], 3), 6.0, np.float32),  # tumour everywhere
        SlidingWindowInferer((16, 16, 16), batch_size=8),
        Compose([LoadImaged("image"), SpatialPadd("image", (40, 40, 30))]),
        task="brats_regions",
        outside_is_background=outside_is_background,
    )
    predicted, _ = predictor.predict_record(record)
    assert predicted.shape == labels.shape
    np.testing.assert_array_equal(predicted[brain], 4)
    np.testing.assert_array_equal(predicted[~brain], 0 if outside_is_background else 4)
    assert len(reads) == (1 if outside_is_background else 0)
    # given the empty voxels, background_on_source reads nothing
    meta = {"filenames": [str(tmp_path / "missing.nii.gz")]}
    given = predictor.background_on_source(np.full(3, 4, np.uint8), meta, empty=np.eye(3)[0] > 0)
    assert given.tolist() == ([0, 4, 4] if outside_is_background else [4, 4, 4])


def test_predictor_prepares_the_next_case_while_one_is_predicted(tmp_path, case):
    import threading
    import time

    record, labels = case
    records = [{**record, "id": f"BraTS20_Validation_00{i}"} for i in (1, 2, 3, 4)]
    records[2]["image"] = [str(tmp_path / "missing_flair.nii.gz"), *record["image"][1:]]
    running, most, lock = [0], [0], threading.Lock()
    load = Compose([LoadImaged("image"), CropForegroundd("image", margin=1)])
    events = []  # (what, case id or None, time)

    def preprocess(item):  # counts how many run at once
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
            events.append(("preprocess", item["id"], time.perf_counter()))
        time.sleep(0.05)
        try:
            return load(item)
        finally:
            with lock:
                running[0] -= 1

    def model(batch):  # a slow model: the next case is preprocessed meanwhile
        time.sleep(0.1)
        events.append(("model", None, time.perf_counter()))
        return _region_logits(batch)

    predictor = Predictor(
        model, SlidingWindowInferer((16, 16, 16), batch_size=64), preprocess, task="brats_regions"
    )
    output = tmp_path / "out"
    with pytest.raises(DataError, match=r"Case 'BraTS20_Validation_003'.*missing_flair"):
        predictor.predict(records, output, progress=False)
    assert most[0] == 1  # one case preprocessed at a time
    second = next(t for what, name, t in events if name == "BraTS20_Validation_002")
    first_model = next(t for what, _, t in events if what == "model")
    assert second < first_model  # case 2 was being preprocessed while case 1 was predicted
    written = sorted(p.name for p in output.glob("*.nii.gz"))
    assert written == ["BraTS20_Validation_001.nii.gz", "BraTS20_Validation_002.nii.gz"]
    for name in written:  # the cases before the broken one are written and recorded
        np.testing.assert_array_equal(np.asarray(nib.load(str(output / name)).dataobj), labels)
    del records[2]
    paths = predictor.predict(records, output, progress=False)  # resumes: 004 only
    assert [p.name for p in paths][-1] == "BraTS20_Validation_004.nii.gz"
    np.testing.assert_array_equal(np.asarray(nib.load(str(paths[-1])).dataobj), labels)
