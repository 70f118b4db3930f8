"""The presets' parameter counts, against values computed by hand."""

from __future__ import annotations

import pytest

from unetseg.networks import NETWORKS, classic_2d, count_flops, nnunet_3d, seed_2d

pytestmark = pytest.mark.backends


def conv(k: int, c_in: int, c_out: int, dims: int, bias: bool = True) -> int:
    """Parameters of a k^dims convolution."""
    return k**dims * c_in * c_out + (c_out if bias else 0)


def test_classic_2d_has_the_ronneberger_parameter_count():
    features = [64, 128, 256, 512, 1024]
    encoder = 0
    c_in = 1
    for f in features:
        encoder += conv(3, c_in, f, 2) + conv(3, f, f, 2)
        c_in = f
    decoder = 0
    for deep, shallow in zip(features[:0:-1], features[-2::-1], strict=True):
        decoder += conv(2, deep, shallow, 2)  # 2×2 transposed convolution
        decoder += conv(3, 2 * shallow, shallow, 2) + conv(3, shallow, shallow, 2)
    head = conv(1, 64, 1, 2)
    assert encoder + decoder + head == 31_030_593
    assert classic_2d(input_size=(256, 256)).build().count_params() == 31_030_593


def test_seed_2d_parameter_count():
    features = [32, 64, 128, 256, 512]
    expected, c_in = 0, 2
    for f in features:
        expected += conv(3, c_in, f, 2) + conv(3, f, f, 2)
        c_in = f
    for deep, shallow in zip(features[:0:-1], features[-2::-1], strict=True):
        expected += conv(2, deep, shallow, 2)  # the 2×2 convolution after upsampling
        expected += conv(3, 2 * shallow, shallow, 2) + conv(3, shallow, shallow, 2)
    expected += conv(1, 32, 4, 2)
    model = seed_2d().build()
    assert model.count_params() == expected == 7_759_908
    assert tuple(model.input.shape) == (None, 128, 128, 2)
    assert tuple(model.output.shape) == (None, 128, 128, 4)
    assert any(layer.name == "encoder4_dropout" for layer in model.layers)


def test_nnunet_3d_parameter_count():
    features = [32, 64, 128, 256, 320, 320]
    instance_norm = 2  # a scale and an offset per channel
    expected, c_in = 0, 4
    for f in features:
        expected += conv(3, c_in, f, 3) + f * instance_norm
        expected += conv(3, f, f, 3) + f * instance_norm
        c_in = f
    for deep, shallow in zip(features[:0:-1], features[-2::-1], strict=True):
        expected += conv(2, deep, shallow, 3)  # 2×2×2 transposed convolution
        expected += conv(3, 2 * shallow, shallow, 3) + shallow * instance_norm
        expected += conv(3, shallow, shallow, 3) + shallow * instance_norm
    heads = sum(conv(1, f, 3, 3) for f in features[:-1])  # one per decoder stage
    model = nnunet_3d().build()
    assert model.count_params() == expected + heads
    assert len(model.outputs) == 5


def test_nnunet_3d_training_step_flops_match_the_published_estimate():
    """A 128³ nnU-Net-style training step is about 2.9 TFLOP per sample."""
    model = nnunet_3d(input_size=(128, 128, 128)).build()
    flops = count_flops(model, batch_size=1)
    assert flops["training_step"] == 3 * flops["forward"]
    assert flops["training_step"] / 1e12 == pytest.approx(2.9, rel=0.02)


def test_presets_are_registered_and_take_overrides():
    assert NETWORKS.names() == ["classic_2d", "nnunet_3d", "seed_2d"]
    config = NETWORKS.create("nnunet_3d", out_channels=4, deep_supervision=False)
    assert config.out_channels == 4
    assert config.features == [32, 64, 128, 256, 320, 320]
