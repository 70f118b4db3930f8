from __future__ import annotations

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from unetseg.errors import ConfigError, DataError
from unetseg.transforms import (
    ClipIntensityPercentiles,
    NormalizeIntensity,
    RandAdjustContrast,
    RandBiasField,
    RandGaussianNoise,
    RandGaussianSmooth,
    RandScaleIntensity,
    RandShiftIntensity,
    ReplaceNonFinite,
    ScaleIntensity,
    ScaleIntensityRange,
    ScaleIntensityRangePercentiles,
)

finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)
images = arrays(
    np.float32, st.tuples(st.integers(2, 6), st.integers(2, 6), st.integers(1, 3)), elements=finite
)


@given(images)
def test_normalize_gives_mean_zero_std_one_per_channel(image):
    out = NormalizeIntensity(channel_wise=True)(image)
    for c in range(image.shape[-1]):
        assume(image[..., c].std() > 1e-2)
        assert abs(out[..., c].mean()) < 1e-3
        assert abs(out[..., c].std() - 1) < 1e-3


@given(images)
def test_normalize_nonzero_leaves_background_and_standardises_the_rest(image):
    image = np.where(np.abs(image) < 100, 0, image).astype(np.float32)
    out = NormalizeIntensity(nonzero=True, channel_wise=True)(image)
    assert np.all(out[image == 0] == 0)
    for c in range(image.shape[-1]):
        selected = image[..., c] != 0
        assume(selected.sum() > 1 and image[..., c][selected].std() > 1e-2)
        values = out[..., c][selected]
        assert abs(values.mean()) < 1e-3
        assert abs(values.std() - 1) < 1e-3


def test_normalize_constant_channel_does_not_divide_by_zero():
    image = np.stack([np.full((4, 4), 5.0), np.arange(16.0).reshape(4, 4)], axis=-1)
    out = NormalizeIntensity(channel_wise=True)(image)
    assert np.all(np.isfinite(out))
    assert np.all(out[..., 0] == 0)


def test_normalize_with_given_statistics():
    image = np.array([[1.0, 10.0], [3.0, 20.0]])
    out = NormalizeIntensity(subtrahend=[2.0, 15.0], divisor=[1.0, 5.0], channel_wise=True)(image)
    np.testing.assert_allclose(out, [[-1.0, -1.0], [1.0, 1.0]])
    with pytest.raises(ConfigError, match="one number unless channel_wise"):
        NormalizeIntensity(subtrahend=[1.0, 2.0])(image)


@given(images, st.floats(-5, 5), st.floats(0.1, 10))
def test_scale_intensity_maps_range_ends_exactly(image, low, width):
    assume(image.max() > image.min())
    out = ScaleIntensity(minv=low, maxv=low + width)(image)
    assert out.min() == pytest.approx(low, abs=1e-4 * width)
    assert out.max() == pytest.approx(low + width, abs=1e-4 * width)


def test_scale_intensity_range_maps_the_given_ends():
    out = ScaleIntensityRange(a_min=-100, a_max=300, b_min=0, b_max=1)(
        np.array([[-100.0], [100.0], [300.0], [500.0]])
    )
    np.testing.assert_allclose(out.ravel(), [0.0, 0.5, 1.0, 1.5])
    clipped = ScaleIntensityRange(-100, 300, clip=True)(np.array([[500.0], [-200.0]]))
    np.testing.assert_allclose(clipped.ravel(), [1.0, 0.0])


def test_percentile_transforms():
    image = np.arange(101, dtype=np.float32).reshape(101, 1)
    out = ScaleIntensityRangePercentiles(lower=10, upper=90)(image)
    assert out[10, 0] == pytest.approx(0.0)
    assert out[90, 0] == pytest.approx(1.0)
    clipped = ClipIntensityPercentiles(lower=5, upper=95)(image)
    assert clipped.min() == 5.0
    assert clipped.max() == 95.0


@pytest.mark.parametrize(
    "transform",
    [
        NormalizeIntensity(),
        ScaleIntensity(),
        ClipIntensityPercentiles(),
        RandScaleIntensity(0.1, prob=1.0),
    ],
)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_are_refused(transform, bad):
    image = np.ones((4, 4, 1), np.float32)
    image[1, 2, 0] = bad
    with pytest.raises(DataError, match="1 NaN or infinite values"):
        transform(image)


def test_replace_non_finite_on_request():
    image = np.array([[np.nan], [np.inf], [1.0]], np.float32)
    out = NormalizeIntensity()(ReplaceNonFinite(nan=0.0, posinf=0.0)(image))
    assert np.all(np.isfinite(out))


@pytest.mark.parametrize(
    "transform",
    [
        RandScaleIntensity(0.2, prob=1.0),
        RandShiftIntensity(0.5, prob=1.0),
        RandGaussianNoise(prob=1.0),
        RandGaussianSmooth(prob=1.0),
        RandAdjustContrast(prob=1.0),
        RandBiasField(prob=1.0),
    ],
    ids=lambda t: type(t).__name__,
)
def test_random_transforms_are_seeded_and_keep_shape_and_dtype(transform):
    image = np.random.default_rng(0).random((8, 7, 6, 2)).astype(np.float32)
    first = transform.set_random_state(5)(image)
    second = transform.set_random_state(5)(image)
    third = transform.set_random_state(6)(image)
    np.testing.assert_array_equal(first, second)
    assert not np.array_equal(first, third)
    assert first.shape == image.shape
    assert first.dtype == np.float32
    assert not np.array_equal(first, image)


def test_probability_zero_is_identity():
    image = np.random.default_rng(0).random((4, 4, 1)).astype(np.float32)
    np.testing.assert_array_equal(RandGaussianNoise(prob=0.0)(image), image)


def test_bias_field_is_the_exponential_of_a_low_degree_legendre_polynomial():
    shape = (9, 7, 5)
    transform = RandBiasField(degree=3, coeff_range=(-0.1, 0.1), prob=1.0).set_random_state(0)
    out = transform(np.ones((*shape, 1), np.float32))[..., 0]
    assert np.all(out > 0)
    # Rebuild the field independently: every Legendre product P_i(x)P_j(y)P_k(z) with
    # i + j + k <= 3, in the order i, j, k, weighted by the drawn coefficients.
    grid = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    vander = np.polynomial.legendre.legvander3d(*grid, [3, 3, 3]).reshape(-1, 64)
    orders = np.indices((4, 4, 4)).reshape(3, -1).T
    columns = vander[:, orders.sum(axis=1) <= 3]
    expected = np.exp(columns @ transform._coefficients).reshape(shape)
    np.testing.assert_allclose(out, expected, rtol=1e-5)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: ScaleIntensity(minv=1, maxv=0), "maxv"),
        (lambda: ScaleIntensityRange(1, 1), "a_min and a_max must differ"),
        (lambda: ScaleIntensityRangePercentiles(90, 10), "Percentiles"),
        (lambda: RandGaussianNoise(std=-1), "std"),
        (lambda: RandAdjustContrast(gamma=0.2), "gamma"),
        (lambda: RandBiasField(degree=0), "degree"),
        (lambda: RandGaussianSmooth(sigma_range=(2, 1)), "sigma_range"),
    ],
)
def test_bad_options(factory, message):
    with pytest.raises(ConfigError, match=message):
        factory()


def test_image_without_channel_axis_is_refused():
    with pytest.raises(DataError, match=r"channels-last image \(\*spatial, C\), got shape \(5,\)"):
        NormalizeIntensity()(np.arange(5.0))


def test_check_non_constant_names_each_constant_channel_and_passes_others():
    from unetseg.transforms import CheckNonConstant, CheckNonConstantd

    image = np.random.default_rng(0).normal(size=(6, 5, 4, 3)).astype(np.float32)
    assert CheckNonConstant()(image) is image
    image[..., 0] = 0.0
    image[..., 2] = 7.5
    with pytest.raises(DataError, match=r"0 \(a.nii\) is 0.0 everywhere; 2 \(c.nii\) is 7.5"):
        CheckNonConstant(names=["a.nii", "b.nii", "c.nii"])(image)
    assert CheckNonConstant(allow=True)(image) is image
    record = {"image": image, "image_meta": {"filenames": ["/x/f.nii.gz", "/x/t1.nii.gz", "/x/t2"]}}
    with pytest.raises(DataError, match=r"0 \(f.nii.gz\).*2 \(t2\)"):
        CheckNonConstantd("image")(record)
    assert CheckNonConstantd("image", allow=True)(record) is record
    with pytest.raises(DataError, match="channels-last"):
        CheckNonConstant()(np.zeros(3))
