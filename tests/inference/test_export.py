"""Export for deployment: SavedModel and ONNX equal the Keras model; ONNX inference."""

from __future__ import annotations

import sys

import keras
import numpy as np
import pytest

from unetseg.errors import ConfigError, DataError, MissingDependencyError
from unetseg.inference import (
    OnnxModel,
    Predictor,
    SlidingWindowInferer,
    export_model,
    exported_difference,
    load_model,
    model_digest,
)
from unetseg.networks import UNetConfig

pytestmark = pytest.mark.skipif(
    keras.backend.backend() != "tensorflow", reason="exports through TensorFlow (tf2onnx)"
)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(3)
    config = UNetConfig(
        spatial_dims=3,
        in_channels=4,
        out_channels=3,
        features=(4, 8),
        norm="instance",
        deep_supervision=True,
    )
    return config.build()


@pytest.fixture(scope="module")
def onnx_file(model, tmp_path_factory):
    return export_model(model, tmp_path_factory.mktemp("export") / "model.onnx", format="onnx")


def window(*shape):
    return np.random.default_rng(0).normal(size=shape).astype(np.float32)


def test_onnx_equals_keras_with_any_batch_and_size(model, onnx_file):
    assert onnx_file.is_file()
    assert not list(onnx_file.parent.glob(".*partial*"))
    for shape in [(1, 16, 16, 16, 4), (3, 24, 16, 8, 4)]:
        assert exported_difference(onnx_file, model, window(*shape)) <= 1e-4
    # The first head only: one output, full size, three channels.
    (output,) = OnnxModel(onnx_file).session.get_outputs()
    assert OnnxModel(onnx_file)(window(2, 16, 16, 16, 4)).shape == (2, 16, 16, 16, 3)
    assert output.shape[-1] == 3


def test_savedmodel_equals_keras(model, tmp_path):
    path = export_model(model, tmp_path / "saved", format="savedmodel")
    assert (path / "saved_model.pb").is_file()
    assert exported_difference(path, model, window(2, 16, 16, 16, 4)) <= 1e-4


def test_sliding_window_and_predictor_run_the_onnx_model(model, onnx_file):
    inferer = SlidingWindowInferer((16, 16, 16), overlap=0.5, activation="sigmoid")
    image = window(20, 18, 17, 4)
    from_keras = inferer(model, image)
    from_onnx = inferer(OnnxModel(onnx_file), image)
    np.testing.assert_allclose(from_onnx, from_keras, atol=1e-4)
    loaded = load_model(onnx_file)
    assert isinstance(loaded, OnnxModel)
    predictor = Predictor(onnx_file, inferer, task="brats_regions")
    np.testing.assert_allclose(predictor.inferer(predictor.model, image), from_keras, atol=1e-4)
    assert model_digest(loaded) == loaded.file_digest


def test_export_refuses_what_it_cannot_do(model, tmp_path):
    with pytest.raises(ConfigError, match="format must be one of"):
        export_model(model, tmp_path / "m.tflite", format="tflite")
    (tmp_path / "taken.onnx").write_text("x")
    with pytest.raises(ConfigError, match="exists"):
        export_model(model, tmp_path / "taken.onnx", format="onnx")
    assert (tmp_path / "taken.onnx").read_text() == "x"  # nothing lost


def test_export_without_its_extra_names_it(model, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "tf2onnx", None)
    with pytest.raises(MissingDependencyError, match=r"unetseg\[export\]"):
        export_model(model, tmp_path / "m.onnx", format="onnx")
    assert not list(tmp_path.iterdir())


def test_a_missing_or_damaged_onnx_file_is_named(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        OnnxModel(tmp_path / "missing.onnx")
    damaged = tmp_path / "damaged.onnx"
    damaged.write_bytes(b"not a model")
    with pytest.raises(DataError, match=r"damaged\.onnx"):
        load_model(damaged)


def test_export_paths_must_fit_the_format_and_are_replaced_whole(model, tmp_path):
    with pytest.raises(ConfigError, match=r"ending in \.onnx"):
        export_model(model, tmp_path / "saved_model", format="onnx")
    with pytest.raises(ConfigError, match=r"ending in \.onnx"):
        export_model(model, tmp_path / "model.onnx", format="savedmodel")
    folder = tmp_path / "work.onnx"
    folder.mkdir()
    (folder / "keep.txt").write_text("x")
    with pytest.raises(ConfigError, match="not an ONNX file"):
        export_model(model, folder, format="onnx", overwrite=True)
    assert (folder / "keep.txt").is_file()
    saved = export_model(model, tmp_path / "saved", format="savedmodel")
    again = export_model(model, saved, format="savedmodel", overwrite=True)
    assert (again / "saved_model.pb").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["saved", "work.onnx"]
    with pytest.raises(ConfigError, match=r"keras\.Model"):
        export_model(OnnxModel.__new__(OnnxModel), tmp_path / "x.onnx", format="onnx")
