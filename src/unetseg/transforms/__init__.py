"""MONAI-style transforms for channels-last NumPy arrays and records.

Array transforms (``NormalizeIntensity``) act on one array; their dictionary forms
(``NormalizeIntensityd``) act on the named keys of a record. Random transforms own
a NumPy ``Generator`` and draw once per call, so image and label move together;
:class:`Compose` seeds them all from one seed.

This package so far holds the machinery (:mod:`~unetseg.transforms.base`), NIfTI
input and output (:mod:`~unetseg.transforms.io`), intensity transforms
(:mod:`~unetseg.transforms.intensity`), label transforms
(:mod:`~unetseg.transforms.labels`) and the grid-changing spatial transforms with
their inverses (:mod:`~unetseg.transforms.spatial`: pads, crops, foreground crops,
random patches, flips, 90° rotations) and the albumentations bridge
(:mod:`~unetseg.transforms.augment`), and resampling
(:mod:`~unetseg.transforms.resample`: ``RandAffined``, ``Spacingd``).
"""

from unetseg.transforms.augment import Albumentations, Albumentationsd
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
from unetseg.transforms.resample import RandAffined, Spacingd, resample_to_shape
from unetseg.transforms.spatial import (
    CenterSpatialCrop,
    CenterSpatialCropd,
    CropForeground,
    CropForegroundd,
    Invertd,
    RandCropByPosNegLabeld,
    RandFlip,
    RandFlipd,
    RandRotate90,
    RandRotate90d,
    RandSpatialCrop,
    RandSpatialCropd,
    SpatialCrop,
    SpatialCropd,
    SpatialPad,
    SpatialPadd,
    crop_box,
    invert,
    uncrop_box,
)

__all__ = [
    "Albumentations",
    "Albumentationsd",
    "ArrayTransformd",
    "AsDiscrete",
    "AsDiscreted",
    "CenterSpatialCrop",
    "CenterSpatialCropd",
    "ClipIntensityPercentiles",
    "ClipIntensityPercentilesd",
    "Compose",
    "ConvertBratsLabels",
    "ConvertBratsLabelsd",
    "CropForeground",
    "CropForegroundd",
    "Invertd",
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
    "RandAffined",
    "RandArrayTransformd",
    "RandBiasField",
    "RandBiasFieldd",
    "RandCropByPosNegLabeld",
    "RandFlip",
    "RandFlipd",
    "RandGaussianNoise",
    "RandGaussianNoised",
    "RandGaussianSmooth",
    "RandGaussianSmoothd",
    "RandRotate90",
    "RandRotate90d",
    "RandScaleIntensity",
    "RandScaleIntensityd",
    "RandShiftIntensity",
    "RandShiftIntensityd",
    "RandSpatialCrop",
    "RandSpatialCropd",
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
    "Spacingd",
    "SpatialCrop",
    "SpatialCropd",
    "SpatialPad",
    "SpatialPadd",
    "Transform",
    "apply_transform",
    "crop_box",
    "invert",
    "meta_key",
    "resample_to_shape",
    "uncrop_box",
]
