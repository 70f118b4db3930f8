"""The registry's Keras serialisation, on every backend."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from unetseg.errors import RegistrationError
from unetseg.registry import Registry

pytestmark = pytest.mark.backends


@pytest.fixture
def layers() -> Registry:
    return Registry("test layer", keras_serializable=True)


def test_registered_class_is_keras_serializable(layers):
    @layers.register("scale_by")
    class ScaleBy(keras.layers.Layer):
        def __init__(self, factor=2.0, **kwargs):
            super().__init__(**kwargs)
            self.factor = factor

        def call(self, inputs):
            return inputs * self.factor

        def get_config(self):
            return {**super().get_config(), "factor": self.factor}

    # Package is the top-level module of the defining code: "test_registry_keras" here,
    # "unetseg" for the library's own components, a plugin's own package for plugins.
    registered = keras.saving.get_registered_name(ScaleBy)
    assert registered == f"{ScaleBy.__module__.split('.')[0]}>ScaleBy"
    assert keras.saving.get_registered_object(registered) is ScaleBy


def test_saved_model_loads_without_custom_objects(layers, tmp_path):
    @layers.register("offset_by")
    class OffsetBy(keras.layers.Layer):
        def __init__(self, offset=1.0, **kwargs):
            super().__init__(**kwargs)
            self.offset = offset

        def call(self, inputs):
            return inputs + self.offset

        def get_config(self):
            return {**super().get_config(), "offset": self.offset}

    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, OffsetBy(offset=3.0)(inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True)
    x = np.arange(16, dtype="float32").reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(restored(x)), x + 3.0)
    assert type(restored.layers[-1]) is OffsetBy


def test_alias_of_registered_class_keeps_one_keras_name(layers):
    @layers.register("gelu_like")
    class GeluLike(keras.layers.Layer):
        def get_config(self):
            return super().get_config()

    layers.register("gelu_alias", GeluLike)
    assert keras.saving.get_registered_name(GeluLike).endswith(">GeluLike")


def test_class_without_get_config_is_refused(layers):
    class NoConfig:
        pass

    with pytest.raises(RegistrationError, match="get_config"):
        layers.register("no_config", NoConfig)
    assert "no_config" not in layers
