"""Intensity transforms: scaling, normalisation, clipping and random intensity augmentation.

Arrays are channels last, ``(*spatial, C)``; results are float32. Every transform
here refuses NaN and infinity with a :class:`~unetseg.errors.DataError`, so a
corrupt scan is caught at the first transform that meets it; put
:class:`ReplaceNonFinite` first to replace such values on purpose.

Random transforms take ``prob`` (the chance the transform acts at all) and draw
their parameters in ``randomize``; calling them with ``randomize=False`` reuses the
last draw, which is how their dictionary forms apply one draw to every key.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.polynomial import legendre
from scipy import ndimage

from unetseg.errors import ConfigError, DataError
from unetseg.transforms.base import MapTransform, RandomizableTransform, Transform
from unetseg.transforms.dictionary import ArrayTransformd, RandArrayTransformd
from unetseg.transforms.metadata import meta_key

__all__ = [
    "CheckNonConstant",
    "CheckNonConstantd",
    "ClipIntensityPercentiles",
    "ClipIntensityPercentilesd",
    "NormalizeIntensity",
    "NormalizeIntensityd",
    "RandAdjustContrast",
    "RandAdjustContrastd",
    "RandBiasField",
    "RandBiasFieldd",
    "RandGaussianNoise",
    "RandGaussianNoised",
    "RandGaussianSmooth",
    "RandGaussianSmoothd",
    "RandScaleIntensity",
    "RandScaleIntensityd",
    "RandShiftIntensity",
    "RandShiftIntensityd",
    "ReplaceNonFinite",
    "ReplaceNonFinited",
    "ScaleIntensity",
    "ScaleIntensityRange",
    "ScaleIntensityRangePercentiles",
    "ScaleIntensityRangePercentilesd",
    "ScaleIntensityRanged",
    "ScaleIntensityd",
]


def as_image(image: Any, owner: str) -> np.ndarray:
    """Return ``image`` as float32 (no copy when it already is), refusing NaN and infinity."""
    array = np.asarray(image)
    if array.ndim < 2:
        raise DataError(
            f"{owner} expects a channels-last image (*spatial, C), got shape {array.shape}."
        )
    array = array.astype(np.float32, copy=False)
    if not np.isfinite(array).all():
        bad = int(np.count_nonzero(~np.isfinite(array)))
        raise DataError(
            f"{owner}: the image holds {bad} NaN or infinite values (shape {array.shape}); "
            "put ReplaceNonFinite first to replace them."
        )
    return array


def _spatial_axes(array: np.ndarray) -> tuple[int, ...]:
    return tuple(range(array.ndim - 1))


class CheckNonConstant(Transform):
    """Refuse an image with a constant channel: an empty (all-zero) or blank scan.

    A missing modality exported as zeros, or a scan that failed to reconstruct, has no
    contrast; a network trained on it or asked about it answers anyway (tens of
    thousands of "tumour" voxels on a blank scan). The image passes unchanged.

    Args:
        allow: Let constant channels through (a data set where a modality is
            missing on purpose).
        names: A name per channel for the message (file names, modalities).

    Raises:
        DataError: Naming each constant channel and its value.

    Example:
        >>> image = np.stack([np.arange(8.0), np.zeros(8)], axis=-1)
        >>> CheckNonConstant(names=["flair.nii.gz", "t1.nii.gz"])(image)
        Traceback (most recent call last):
        ...
        unetseg.errors.DataError: The image has a constant channel: 1 (t1.nii.gz) is 0.0 ...
        >>> CheckNonConstant(allow=True)(image).shape
        (8, 2)
    """

    def __init__(self, allow: bool = False, names: Sequence[str] | None = None) -> None:
        self.allow = bool(allow)
        self.names = None if names is None else [str(n) for n in names]

    def __call__(self, image: Any, names: Sequence[str] | None = None) -> Any:
        if self.allow:
            return image
        array = np.asarray(image)
        if array.ndim < 2:
            raise DataError(
                f"CheckNonConstant expects a channels-last image (*spatial, C), got shape "
                f"{array.shape}."
            )
        # Two reductions per channel, no voxel-sized temporary (a BraTS case is 36M
        # values); a channel at a time, 13× faster than NumPy along axis 0 of (N, 4).
        channels = [array[..., c] for c in range(array.shape[-1])]
        constant = [c for c, values in enumerate(channels) if values.max() == values.min()]
        if not constant:
            return image
        names = names if names is not None else self.names
        described = [
            f"{c}{f' ({names[c]})' if names is not None and c < len(names) else ''} is "
            f"{float(channels[c].flat[0])} everywhere"
            for c in constant
        ]
        raise DataError(
            f"The image has a constant channel: {'; '.join(described)}; an empty or blank "
            "scan cannot be segmented. Replace it, or allow it on purpose (allow=True; in a "
            "recipe data.allow_constant_channels=true)."
        )


class ReplaceNonFinite(Transform):
    """Replace NaN and infinite values, as :func:`numpy.nan_to_num` does, in float32.

    Args:
        nan: The value for NaN.
        posinf: The value for +inf (``None``: the largest float32).
        neginf: The value for −inf (``None``: the smallest float32).
    """

    def __init__(self, nan: float = 0.0, posinf: float | None = None, neginf: float | None = None):
        self.nan, self.posinf, self.neginf = nan, posinf, neginf

    def __call__(self, image: Any) -> np.ndarray:
        array = np.asarray(image, dtype=np.float32)
        return np.nan_to_num(array, nan=self.nan, posinf=self.posinf, neginf=self.neginf)


class ScaleIntensity(Transform):
    """Rescale intensities linearly so that their minimum and maximum become ``minv``, ``maxv``.

    Args:
        minv: The new minimum.
        maxv: The new maximum.
        channel_wise: Scale each channel by its own minimum and maximum.

    A constant image (or channel) becomes ``minv``.

    Example:
        >>> ScaleIntensity()(np.array([[2.0], [4.0], [6.0]])).ravel().tolist()
        [0.0, 0.5, 1.0]
    """

    def __init__(self, minv: float = 0.0, maxv: float = 1.0, channel_wise: bool = False) -> None:
        if maxv < minv:
            raise ConfigError(f"maxv must be >= minv, got minv={minv}, maxv={maxv}.")
        self.minv, self.maxv, self.channel_wise = float(minv), float(maxv), bool(channel_wise)

    def __call__(self, image: Any) -> np.ndarray:
        array = as_image(image, type(self).__name__)
        axes = _spatial_axes(array) if self.channel_wise else None
        low = array.min(axis=axes, keepdims=True)
        high = array.max(axis=axes, keepdims=True)
        span = high - low
        scale = np.where(span > 0, (self.maxv - self.minv) / np.where(span > 0, span, 1), 0)
        return ((array - low) * scale + self.minv).astype(np.float32)


class ScaleIntensityRange(Transform):
    """Map the intensity range ``[a_min, a_max]`` linearly onto ``[b_min, b_max]``.

    Args:
        a_min: The input value mapped to ``b_min``.
        a_max: The input value mapped to ``b_max``.
        b_min: The output for ``a_min``.
        b_max: The output for ``a_max``.
        clip: Clip the output to ``[b_min, b_max]``.
    """

    def __init__(
        self, a_min: float, a_max: float, b_min: float = 0.0, b_max: float = 1.0, clip: bool = False
    ) -> None:
        if a_max == a_min:
            raise ConfigError(f"a_min and a_max must differ, both are {a_min}.")
        self.a_min, self.a_max = float(a_min), float(a_max)
        self.b_min, self.b_max = float(b_min), float(b_max)
        self.clip = bool(clip)

    def __call__(self, image: Any) -> np.ndarray:
        array = as_image(image, type(self).__name__)
        return _map_range(array, self.a_min, self.a_max, self.b_min, self.b_max, self.clip)


def _map_range(
    array: np.ndarray, a_min: Any, a_max: Any, b_min: float, b_max: float, clip: bool
) -> np.ndarray:
    span = np.where(np.asarray(a_max) != np.asarray(a_min), np.asarray(a_max) - a_min, 1.0)
    result = (array - a_min) / span * (b_max - b_min) + b_min
    if clip:
        result = np.clip(result, min(b_min, b_max), max(b_min, b_max))
    return result.astype(np.float32)


def _check_percentiles(lower: float, upper: float) -> None:
    if not 0.0 <= lower < upper <= 100.0:
        raise ConfigError(
            f"Percentiles must satisfy 0 <= lower < upper <= 100, got lower={lower}, upper={upper}."
        )


class ScaleIntensityRangePercentiles(Transform):
    """Map the intensities at the ``lower`` and ``upper`` percentiles onto ``[b_min, b_max]``.

    Args:
        lower: Lower percentile in [0, 100).
        upper: Upper percentile in (0, 100].
        b_min: The output for the lower percentile.
        b_max: The output for the upper percentile.
        clip: Clip the output to ``[b_min, b_max]``.
        channel_wise: Percentiles per channel.
    """

    def __init__(
        self,
        lower: float,
        upper: float,
        b_min: float = 0.0,
        b_max: float = 1.0,
        clip: bool = False,
        channel_wise: bool = False,
    ) -> None:
        _check_percentiles(lower, upper)
        self.lower, self.upper = float(lower), float(upper)
        self.b_min, self.b_max = float(b_min), float(b_max)
        self.clip, self.channel_wise = bool(clip), bool(channel_wise)

    def __call__(self, image: Any) -> np.ndarray:
        array = as_image(image, type(self).__name__)
        axes = _spatial_axes(array) if self.channel_wise else None
        a_min, a_max = np.percentile(array, [self.lower, self.upper], axis=axes, keepdims=True)
        return _map_range(array, a_min, a_max, self.b_min, self.b_max, self.clip)


class ClipIntensityPercentiles(Transform):
    """Clip intensities to their ``lower`` and ``upper`` percentiles (nnU-Net clips 0.5–99.5).

    Args:
        lower: Lower percentile in [0, 100).
        upper: Upper percentile in (0, 100].
        channel_wise: Percentiles per channel.
    """

    def __init__(self, lower: float = 0.5, upper: float = 99.5, channel_wise: bool = True) -> None:
        _check_percentiles(lower, upper)
        self.lower, self.upper, self.channel_wise = float(lower), float(upper), bool(channel_wise)

    def __call__(self, image: Any) -> np.ndarray:
        array = as_image(image, type(self).__name__)
        axes = _spatial_axes(array) if self.channel_wise else None
        low, high = np.percentile(array, [self.lower, self.upper], axis=axes, keepdims=True)
        return np.clip(array, low, high).astype(np.float32)


class NormalizeIntensity(Transform):
    """Z-score normalisation: ``(x − subtrahend) / divisor``, by default mean and std.

    Args:
        subtrahend: Value(s) to subtract (one per channel with ``channel_wise``);
            ``None`` for the mean.
        divisor: Value(s) to divide by; ``None`` for the standard deviation.
        nonzero: Compute the statistics over non-zero voxels only, and normalise only
            those (the background of a skull-stripped MRI stays 0), as nnU-Net does for
            BraTS.
        channel_wise: Statistics per channel (each MRI modality on its own).

    A channel whose divisor is 0 (constant over the selected voxels) is divided by 1,
    so it becomes 0 rather than NaN.

    Example:
        >>> image = np.array([[0.0], [2.0], [4.0], [0.0]])
        >>> NormalizeIntensity(nonzero=True)(image).ravel().tolist()
        [0.0, -1.0, 1.0, 0.0]
    """

    def __init__(
        self,
        subtrahend: float | Sequence[float] | None = None,
        divisor: float | Sequence[float] | None = None,
        nonzero: bool = False,
        channel_wise: bool = False,
    ) -> None:
        self.subtrahend = subtrahend
        self.divisor = divisor
        self.nonzero = bool(nonzero)
        self.channel_wise = bool(channel_wise)

    def _given(self, value: Any, channels: int, name: str) -> np.ndarray | None:
        if value is None:
            return None
        array = np.asarray(value, dtype=np.float32).reshape(-1)
        if array.size == 1:
            return np.repeat(array, channels)
        if not self.channel_wise:
            raise ConfigError(f"{name} must be one number unless channel_wise=True, got {value!r}.")
        if array.size != channels:
            raise ConfigError(
                f"{name} has {array.size} values for an image of {channels} channels."
            )
        return array

    def __call__(self, image: Any) -> np.ndarray:
        array = as_image(image, type(self).__name__)
        channels = array.shape[-1]
        subtrahend = self._given(self.subtrahend, channels, "subtrahend")
        divisor = self._given(self.divisor, channels, "divisor")
        result = array.copy()
        groups = (
            [(slice(None), ...)] if not self.channel_wise else [(..., c) for c in range(channels)]
        )
        for index in groups:
            values = array[index]
            mask = values != 0 if self.nonzero else np.ones(values.shape, dtype=bool)
            selected = values[mask]
            if selected.size == 0:
                continue
            channel = index[-1] if self.channel_wise else 0
            mean = subtrahend[channel] if subtrahend is not None else float(selected.mean())
            std = divisor[channel] if divisor is not None else float(selected.std())
            std = std if std != 0 else 1.0
            result[index][mask] = (selected - mean) / std  # result[index] is a view
        return result


def _range(
    value: float | Sequence[float], name: str, symmetric: bool = True
) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        if symmetric:
            return (-abs(float(value)), abs(float(value)))
        return (float(value), float(value))
    low, high = (float(v) for v in value)
    if high < low:
        raise ConfigError(f"{name} must be (low, high) with low <= high, got {value!r}.")
    return low, high


class RandomIntensityTransform(RandomizableTransform):
    """Base of the random intensity transforms: ``prob`` and ``randomize`` (from
    :class:`~unetseg.transforms.RandomizableTransform`), ``_draw`` and ``apply``."""

    def __init__(self, prob: float) -> None:
        super().__init__(prob)

    def randomize(self, data: Any = None) -> None:
        super().randomize(data)
        if self._do_transform:
            self._draw(np.asarray(data) if data is not None else None)

    def _draw(self, image: np.ndarray | None) -> None:
        """Draw the parameters of one application."""

    def apply(self, image: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def __call__(self, image: Any, randomize: bool = True) -> np.ndarray:
        array = as_image(image, type(self).__name__)
        if randomize:
            self.randomize(array)
        if not self._do_transform:
            return array
        return self.apply(array).astype(np.float32, copy=False)


class RandScaleIntensity(RandomIntensityTransform):
    """Multiply intensities by ``1 + f`` with ``f`` drawn from ``factors``.

    Args:
        factors: A range ``(low, high)``, or a number ``f`` for ``(−f, f)``.
        prob: Probability of acting.
    """

    def __init__(self, factors: float | Sequence[float], prob: float = 0.1) -> None:
        super().__init__(prob)
        self.factors = _range(factors, "factors")
        self._factor = 0.0

    def _draw(self, image: np.ndarray | None) -> None:
        self._factor = float(self.rng.uniform(*self.factors))

    def apply(self, image: np.ndarray) -> np.ndarray:
        return image * (1.0 + self._factor)


class RandShiftIntensity(RandomIntensityTransform):
    """Add an offset drawn from ``offsets``.

    Args:
        offsets: A range ``(low, high)``, or a number ``o`` for ``(−o, o)``.
        prob: Probability of acting.
    """

    def __init__(self, offsets: float | Sequence[float], prob: float = 0.1) -> None:
        super().__init__(prob)
        self.offsets = _range(offsets, "offsets")
        self._offset = 0.0

    def _draw(self, image: np.ndarray | None) -> None:
        self._offset = float(self.rng.uniform(*self.offsets))

    def apply(self, image: np.ndarray) -> np.ndarray:
        return image + self._offset


class RandGaussianNoise(RandomIntensityTransform):
    """Add Gaussian noise whose standard deviation is drawn from ``[0, std]`` (nnU-Net).

    Args:
        prob: Probability of acting.
        mean: Mean of the noise.
        std: Largest standard deviation.
    """

    def __init__(self, prob: float = 0.1, mean: float = 0.0, std: float = 0.1) -> None:
        super().__init__(prob)
        if std < 0:
            raise ConfigError(f"std must be >= 0, got {std}.")
        self.mean, self.std = float(mean), float(std)
        self._noise: np.ndarray | None = None

    def _draw(self, image: np.ndarray | None) -> None:
        if image is None:
            raise DataError("RandGaussianNoise needs the image to draw noise of its shape.")
        sigma = self.rng.uniform(0.0, self.std)
        self._noise = self.rng.normal(self.mean, sigma, size=image.shape).astype(np.float32)

    def apply(self, image: np.ndarray) -> np.ndarray:
        if self._noise is None or self._noise.shape != image.shape:
            shape = None if self._noise is None else self._noise.shape
            raise DataError(
                f"RandGaussianNoise drew noise of shape {shape} but is applied to an image of "
                f"shape {image.shape}; the keys of one record must share a shape."
            )
        return image + self._noise


class RandGaussianSmooth(RandomIntensityTransform):
    """Blur each channel with a Gaussian whose sigma (in voxels) is drawn per axis.

    Args:
        sigma_range: ``(low, high)`` for every spatial axis.
        prob: Probability of acting.
    """

    def __init__(self, sigma_range: Sequence[float] = (0.5, 1.0), prob: float = 0.1) -> None:
        super().__init__(prob)
        self.sigma_range = _range(sigma_range, "sigma_range", symmetric=False)
        if self.sigma_range[0] < 0:
            raise ConfigError(f"sigma_range must be >= 0, got {sigma_range!r}.")
        self._sigma: tuple[float, ...] = ()

    def _draw(self, image: np.ndarray | None) -> None:
        dims = image.ndim - 1 if image is not None else 3
        self._sigma = tuple(float(s) for s in self.rng.uniform(*self.sigma_range, size=dims))

    def apply(self, image: np.ndarray) -> np.ndarray:
        return ndimage.gaussian_filter(image, sigma=(*self._sigma, 0.0))


class RandAdjustContrast(RandomIntensityTransform):
    """Gamma contrast: ``((x − min) / range)^γ · range + min``, γ drawn from ``gamma``.

    Args:
        gamma: ``(low, high)`` for γ, or a number ``g > 0.5`` for ``(0.5, g)`` as in
            MONAI.
        prob: Probability of acting.
    """

    def __init__(self, gamma: float | Sequence[float] = (0.7, 1.5), prob: float = 0.1) -> None:
        super().__init__(prob)
        if isinstance(gamma, (int, float)):
            if gamma <= 0.5:
                raise ConfigError(f"A single gamma must be > 0.5, got {gamma}.")
            gamma = (0.5, float(gamma))
        self.gamma = _range(gamma, "gamma", symmetric=False)
        if self.gamma[0] <= 0:
            raise ConfigError(f"gamma must be > 0, got {gamma!r}.")
        self._gamma = 1.0

    def _draw(self, image: np.ndarray | None) -> None:
        self._gamma = float(self.rng.uniform(*self.gamma))

    def apply(self, image: np.ndarray) -> np.ndarray:
        low, high = image.min(), image.max()
        span = high - low
        if span == 0:
            return image
        return np.power((image - low) / span, self._gamma) * span + low


class RandBiasField(RandomIntensityTransform):
    """Multiply by a smooth bias field ``exp(Σ c · P_i(x) P_j(y) P_k(z))`` of Legendre polynomials.

    This imitates the slow intensity inhomogeneity of MRI coils.

    Args:
        degree: Highest total degree of the polynomial (>= 1).
        coeff_range: Range the coefficients are drawn from.
        prob: Probability of acting.
    """

    def __init__(
        self, degree: int = 3, coeff_range: Sequence[float] = (0.0, 0.1), prob: float = 0.1
    ) -> None:
        super().__init__(prob)
        if not isinstance(degree, int) or degree < 1:
            raise ConfigError(f"degree must be an integer >= 1, got {degree!r}.")
        self.degree = degree
        self.coeff_range = _range(coeff_range, "coeff_range", symmetric=False)
        self._coefficients: np.ndarray | None = None

    def _terms(self, dims: int) -> list[tuple[int, ...]]:
        orders = np.indices((self.degree + 1,) * dims).reshape(dims, -1).T
        return [tuple(o) for o in orders if o.sum() <= self.degree]

    def _draw(self, image: np.ndarray | None) -> None:
        dims = image.ndim - 1 if image is not None else 3
        self._coefficients = self.rng.uniform(*self.coeff_range, size=len(self._terms(dims)))

    def apply(self, image: np.ndarray) -> np.ndarray:
        spatial = image.shape[:-1]
        terms = self._terms(len(spatial))
        if self._coefficients is None or len(self._coefficients) != len(terms):
            raise DataError(
                "RandBiasField was applied to an image of another dimension than drawn."
            )
        axes = [np.linspace(-1.0, 1.0, n) for n in spatial]
        field = np.zeros(spatial, dtype=np.float64)
        for coefficient, orders in zip(self._coefficients, terms, strict=True):
            term = np.ones((), dtype=np.float64)
            for axis, (order, coordinates) in enumerate(zip(orders, axes, strict=True)):
                unit = np.zeros(order + 1)
                unit[order] = 1.0
                shape = [1] * len(spatial)
                shape[axis] = -1
                term = term * legendre.legval(coordinates, unit).reshape(shape)
            field += coefficient * term
        return image * np.exp(field)[..., None].astype(np.float32)


# -- dictionary forms ----------------------------------------------------------------


class CheckNonConstantd(MapTransform):
    """Dictionary form of :class:`CheckNonConstant`; the message names the channels by
    the files they were loaded from (``"<key>_meta"["filenames"]``) when known.

    Args:
        keys: The keys to check (the image).
        allow: Let constant channels through (see :class:`CheckNonConstant`).
        allow_missing_keys: Skip missing keys.

    Example:
        >>> record = {"image": np.ones((4, 4, 2)), "image_meta": {"filenames": ["a", "b"]}}
        >>> CheckNonConstantd("image")(record)
        Traceback (most recent call last):
        ...
        unetseg.errors.DataError: The image has a constant channel: 0 (a) is 1.0 ...
    """

    def __init__(
        self,
        keys: Hashable | Sequence[Hashable],
        allow: bool = False,
        allow_missing_keys: bool = False,
    ) -> None:
        super().__init__(keys, allow_missing_keys)
        self.check = CheckNonConstant(allow=allow)

    def __call__(self, record: dict) -> dict:
        for key in self.key_iterator(record):
            meta = record.get(meta_key(key))
            files = meta.get("filenames") if isinstance(meta, Mapping) else None
            names = [Path(str(f)).name for f in files] if files else None
            self.check(record[key], names)
        return record


class ReplaceNonFinited(ArrayTransformd):
    """Dictionary form of :class:`ReplaceNonFinite`."""

    array_transform = ReplaceNonFinite


class ScaleIntensityd(ArrayTransformd):
    """Dictionary form of :class:`ScaleIntensity`."""

    array_transform = ScaleIntensity


class ScaleIntensityRanged(ArrayTransformd):
    """Dictionary form of :class:`ScaleIntensityRange`."""

    array_transform = ScaleIntensityRange


class ScaleIntensityRangePercentilesd(ArrayTransformd):
    """Dictionary form of :class:`ScaleIntensityRangePercentiles`."""

    array_transform = ScaleIntensityRangePercentiles


class ClipIntensityPercentilesd(ArrayTransformd):
    """Dictionary form of :class:`ClipIntensityPercentiles`."""

    array_transform = ClipIntensityPercentiles


class NormalizeIntensityd(ArrayTransformd):
    """Dictionary form of :class:`NormalizeIntensity`."""

    array_transform = NormalizeIntensity


class RandScaleIntensityd(RandArrayTransformd):
    """Dictionary form of :class:`RandScaleIntensity`: one factor for all keys."""

    array_transform = RandScaleIntensity


class RandShiftIntensityd(RandArrayTransformd):
    """Dictionary form of :class:`RandShiftIntensity`: one offset for all keys."""

    array_transform = RandShiftIntensity


class RandGaussianNoised(RandArrayTransformd):
    """Dictionary form of :class:`RandGaussianNoise`: the same noise for all keys."""

    array_transform = RandGaussianNoise


class RandGaussianSmoothd(RandArrayTransformd):
    """Dictionary form of :class:`RandGaussianSmooth`: one sigma for all keys."""

    array_transform = RandGaussianSmooth


class RandAdjustContrastd(RandArrayTransformd):
    """Dictionary form of :class:`RandAdjustContrast`: one gamma for all keys."""

    array_transform = RandAdjustContrast


class RandBiasFieldd(RandArrayTransformd):
    """Dictionary form of :class:`RandBiasField`: one field for all keys."""

    array_transform = RandBiasField
