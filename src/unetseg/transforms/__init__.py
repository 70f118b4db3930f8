"""MONAI-style transforms for channels-last NumPy arrays and records.

Array transforms (``NormalizeIntensity``) act on one array; their dictionary forms
(``NormalizeIntensityd``) act on the named keys of a record. Random transforms own
a NumPy ``Generator`` and draw once per call, so image and label move together;
:class:`Compose` seeds them all from one seed.

This package so far holds the machinery (:mod:`~unetseg.transforms.base`), NIfTI
input and output (:mod:`~unetseg.transforms.io`), intensity transforms
(:mod:`~unetseg.transforms.intensity`) and label transforms
(:mod:`~unetseg.transforms.labels`). Spatial transforms (crops, pads, flips,
rotations, resampling) and the albumentations bridge are still to come.
"""

from unetseg.transforms.base import (
    Compose,
    MapTransform,
    OneOf,
    Randomizable,
    Transform,
    apply_transform,
)
from unetseg.transforms.dictionary import ArrayTransformd, RandArrayTransformd
from unetseg.transforms.intensity import (
    ClipIntensityPercentiles,
    ClipIntensityPercentilesd,
    NormalizeIntensity,
    NormalizeIntensityd,
    RandAdjustContrast,
    RandAdjustContrastd,
    RandBiasField,
    RandBiasFieldd,
    RandGaussianNoise,
    RandGaussianNoised,
    RandGaussianSmooth,
    RandGaussianSmoothd,
    RandScaleIntensity,
    RandScaleIntensityd,
    RandShiftIntensity,
    RandShiftIntensityd,
    ReplaceNonFinite,
    ReplaceNonFinited,
    ScaleIntensity,
    ScaleIntensityd,
    ScaleIntensityRange,
    ScaleIntensityRanged,
    ScaleIntensityRangePercentiles,
    ScaleIntensityRangePercentilesd,
)
from unetseg.transforms.io import LoadImage, LoadImaged, SaveImage, SaveImaged, meta_key
from unetseg.transforms.labels import (
    AsDiscrete,
    AsDiscreted,
    ConvertBratsLabels,
    ConvertBratsLabelsd,
    OneHot,
    OneHotd,
    RegionsToBratsLabels,
    RegionsToBratsLabelsd,
)

__all__ = [
    "ArrayTransformd",
    "AsDiscrete",
    "AsDiscreted",
    "ClipIntensityPercentiles",
    "ClipIntensityPercentilesd",
    "Compose",
    "ConvertBratsLabels",
    "ConvertBratsLabelsd",
    "LoadImage",
    "LoadImaged",
    "MapTransform",
    "NormalizeIntensity",
    "NormalizeIntensityd",
    "OneHot",
    "OneHotd",
    "OneOf",
    "RandAdjustContrast",
    "RandAdjustContrastd",
    "RandArrayTransformd",
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
    "Randomizable",
    "RegionsToBratsLabels",
    "RegionsToBratsLabelsd",
    "ReplaceNonFinite",
    "ReplaceNonFinited",
    "SaveImage",
    "SaveImaged",
    "ScaleIntensity",
    "ScaleIntensityRange",
    "ScaleIntensityRangePercentiles",
    "ScaleIntensityRangePercentilesd",
    "ScaleIntensityRanged",
    "ScaleIntensityd",
    "Transform",
    "apply_transform",
    "meta_key",
]
