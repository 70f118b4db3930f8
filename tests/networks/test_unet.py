"""Shapes, options, serialisation and errors of the U-Net builder."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from unetseg.errors import ConfigError, UnknownNameError
from unetseg.networks import ACTIVATION_LAYERS, NORMS, UNetConfig, count_flops

pytestmark = pytest.mark.backends


def small(**overrides) -> UNetConfig:
    defaults = {
        "spatial_dims": 3,
        "in_channels": 2,
        "out_channels": 3,
        "num_stages": 3,
        "base_features": 4,
        "max_features": 16,
        "input_size": (16, 16, 8),
    }
    return UNetConfig(**{**defaults, **overrides})


def forward(model: keras.Model, shape) -> list[np.ndarray]:
    x = np.random.default_rng(0).normal(size=shape).astype("float32")
    outputs = model(x, training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [keras.ops.convert_to_numpy(o) for o in outputs]


@pytest.mark.parametrize("norm", ["batch", "instance", "layer", "none", ("group", {"groups": 2})])
@pytest.mark.parametrize("spatial_dims", [2, 3])
def test_every_norm_in_2d_and_3d(norm, spatial_dims):
    size = (16, 16) if spatial_dims == 2 else (16, 16, 8)
    model = small(spatial_dims=spatial_dims, input_size=size, norm=norm).build()
    (output,) = forward(model, (2, *size, 2))
    assert output.shape == (2, *size, 3)
    assert output.dtype == np.float32


@pytest.mark.parametrize(
    "activation",
    [
        "relu",
        "leaky_relu",
        "prelu",
        "gelu",
        "swish",
        "elu",
        "mish",
        ("leaky_relu", {"negative_slope": 0.2}),
    ],
)
def test_every_activation(activation):
    model = small(activation=activation).build()
    (output,) = forward(model, (1, 16, 16, 8, 2))
    assert output.shape == (1, 16, 16, 8, 3)
    assert np.all(np.isfinite(output))


@pytest.mark.parametrize(
    "options",
    [
        {"residual": True},
        {"attention": True},
        {"residual": True, "attention": True, "upsample": "nearest"},
        {"downsample": "max_pool"},
        {"dropout": 0.3, "dropout_at": "all"},
        {"encoder_convs": [1, 2, 3], "decoder_convs": [1, 3]},
        {"kernel_sizes": [(3, 3, 1), (3, 3, 3), 3]},
    ],
    ids=[
        "residual",
        "attention",
        "residual-attention-nearest",
        "max-pool",
        "dropout",
        "convs",
        "kernels",
    ],
)
def test_block_options_keep_shapes(options):
    model = small(**options).build()
    (output,) = forward(model, (1, 16, 16, 8, 2))
    assert output.shape == (1, 16, 16, 8, 3)


def test_bilinear_upsampling_in_2d():
    model = small(spatial_dims=2, input_size=(16, 16), upsample="bilinear").build()
    assert forward(model, (1, 16, 16, 2))[0].shape == (1, 16, 16, 3)


def test_anisotropic_strides():
    config = small(strides=[1, (2, 2, 1), (2, 2, 2)], input_size=(16, 16, 6))
    assert config.total_strides == (4, 4, 2)
    model = config.build()
    assert forward(model, (1, 16, 16, 6, 2))[0].shape == (1, 16, 16, 6, 3)
    bottleneck = model.get_layer("encoder2_conv1_act").output
    assert tuple(bottleneck.shape[1:4]) == (4, 4, 3)


def test_deep_supervision_heads_highest_resolution_first():
    model = small(num_stages=4, input_size=(16, 16, 8), deep_supervision=True).build()
    shapes = [o.shape for o in forward(model, (1, 16, 16, 8, 2))]
    assert shapes == [(1, 16, 16, 8, 3), (1, 8, 8, 4, 3), (1, 4, 4, 2, 3)]
    two = small(num_stages=4, deep_supervision=True, num_deep_supervision_heads=2).build()
    assert len(two.outputs) == 2


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_output_activation(activation):
    model = small(output_activation=activation).build()
    (output,) = forward(model, (1, 16, 16, 8, 2))
    assert output.min() >= 0.0
    assert output.max() <= 1.0
    if activation == "softmax":
        np.testing.assert_allclose(output.sum(-1), 1.0, rtol=1e-5)


def test_dynamic_spatial_size():
    model = small(input_size=None).build()
    assert tuple(model.input.shape) == (None, None, None, None, 2)
    assert forward(model, (1, 8, 16, 12, 2))[0].shape == (1, 8, 16, 12, 3)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_output_is_float32(policy):
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(policy)
    try:
        model = small(deep_supervision=True).build()
        assert model.get_layer("encoder0_conv0").compute_dtype != "float32"
        for output in forward(model, (1, 16, 16, 8, 2)):
            assert output.dtype == np.float32
    finally:
        keras.config.set_dtype_policy(previous)


def test_save_and_load_gives_identical_predictions(tmp_path):
    keras.utils.set_random_seed(1)
    config = small(
        residual=True,
        attention=True,
        activation="prelu",
        norm=("group", {"groups": 2}),
        deep_supervision=True,
        dropout=0.1,
    )
    model = config.build()
    path = tmp_path / "unet.keras"
    model.save(path)
    restored = keras.models.load_model(path, safe_mode=True)
    for before, after in zip(
        forward(model, (2, 16, 16, 8, 2)), forward(restored, (2, 16, 16, 8, 2)), strict=True
    ):
        np.testing.assert_array_equal(before, after)


def test_config_round_trips_through_json():
    config = small(
        norm=("group", {"groups": 2}),
        activation=("leaky_relu", {"negative_slope": 0.1}),
        strides=[1, (2, 2, 1), 2],
    )
    text = config.to_json()
    assert json.loads(text)["norm"] == ["group", {"groups": 2}]
    restored = UNetConfig.from_json(text)
    assert restored == config
    assert restored.build().count_params() == config.build().count_params()


def test_registered_custom_norm_is_used_by_name_and_saved(tmp_path):
    @NORMS.register("test_rms_norm")
    class RMSNorm(keras.layers.Layer):
        def call(self, inputs):
            mean_square = keras.ops.mean(keras.ops.square(inputs), axis=-1, keepdims=True)
            return inputs / keras.ops.sqrt(mean_square + 1e-6)

        def get_config(self):
            return super().get_config()

    try:
        model = small(norm="test_rms_norm").build()
        assert isinstance(model.get_layer("encoder0_conv0_norm"), RMSNorm)
        model.save(tmp_path / "m.keras")
        restored = keras.models.load_model(tmp_path / "m.keras", safe_mode=True)
        assert isinstance(restored.get_layer("encoder0_conv0_norm"), RMSNorm)
    finally:
        NORMS.unregister("test_rms_norm")


def test_count_flops_needs_a_fixed_size():
    with pytest.raises(ConfigError, match="fixed input size"):
        count_flops(small(input_size=None).build())


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            {"input_size": (16, 14, 8)},
            "Input size 14 on spatial axis 1 is not a multiple of 4.*such as 12 or 16",
        ),
        ({"input_size": (16, 16)}, "input_size must have 3 entries"),
        ({"spatial_dims": 4}, "spatial_dims must be 2 or 3"),
        ({"out_channels": 0}, "out_channels"),
        ({"features": [8, 0]}, "features"),
        ({"strides": [1, 2]}, "strides must be"),
        ({"kernel_sizes": [3, (3, 3), 3]}, "kernel_sizes entry"),
        ({"encoder_convs": [2, 2]}, "encoder_convs"),
        ({"upsample": "bilinear"}, "2D only"),
        ({"dropout": 1.0}, "dropout"),
        ({"num_deep_supervision_heads": 5, "deep_supervision": True}, "between 1 and 2"),
        ({"base_features": 32, "max_features": 16}, "max_features"),
        ({"norm": "group"}, r"8 groups needs every stage's features to be a multiple of 8; \[4\]"),
    ],
)
def test_bad_configurations_are_refused(options, message):
    with pytest.raises(ConfigError, match=message):
        small(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"norm": "instnce"}, "Did you mean 'instance'"),
        ({"activation": "lrelu"}, "Unknown activation 'lrelu'"),
        ({"upsample": "transposed"}, "Did you mean 'transpose'"),
        ({"output_activation": "softmx"}, "Did you mean 'softmax'"),
    ],
)
def test_unknown_names_suggest_the_right_one(options, message):
    with pytest.raises(UnknownNameError, match=message):
        small(**options)


def test_unknown_json_keys_are_refused():
    values = small().to_dict()
    values["depth"] = 5
    with pytest.raises(ConfigError, match=r"Unknown U-Net configuration keys \['depth'\]"):
        UNetConfig.from_dict(values)


def test_registries_list_the_builtin_layers():
    assert {"batch", "group", "instance", "layer", "none"} <= set(NORMS.names())
    assert {"relu", "leaky_relu", "prelu", "gelu", "swish", "silu"} <= set(
        ACTIVATION_LAYERS.names()
    )
