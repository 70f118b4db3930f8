"""MONAI-style transforms for channels-last NumPy arrays and records.

Array transforms (``NormalizeIntensity``) act on one array; their dictionary forms
(``NormalizeIntensityd``) act on the named keys of a record. Random transforms own
a NumPy ``Generator`` and draw once per call, so image and label move together;
:class:`Compose` seeds them all from one seed.

The modules, from the bottom up:

- ``unetseg.transforms.geometry``: boxes, flips, rotations and resampling as
  plain functions on arrays;
- ``unetseg.transforms.metadata``: ``record["<key>_meta"]``, the log of spatial
  operations and the table of their inverses (:data:`INVERSES`);
- ``unetseg.transforms.base``: the machinery (``Transform``, ``MapTransform``,
  ``Randomizable``, ``RandomizableTransform``, ``Compose``, ``OneOf``);
- the transforms: NIfTI input and output (``unetseg.transforms.io``),
  intensity (``unetseg.transforms.intensity``), labels
  (``unetseg.transforms.labels``), the grid-changing spatial transforms
  (``unetseg.transforms.spatial``: pads, crops, foreground crops, random
  patches, flips, 90° rotations), resampling (``unetseg.transforms.resample``:
  ``RandAffined``, ``Spacingd``) and the albumentations bridge
  (``unetseg.transforms.augment``).
"""

from unetseg.transforms.augment import Albumentations, Albumentationsd
from unetseg.transforms.base import (
    Compose,
    MapTransform,
    OneOf,
    Randomizable,
    RandomizableTransform,
    Transform,
    apply_transform,
)
from unetseg.transforms.dictionary import ArrayTransformd, RandArrayTransformd
from unetseg.transforms.geometry import crop_box, resample_to_shape, uncrop_box
from unetseg.transforms.intensity import (
    CheckNonConstant,
    CheckNonConstantd,
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
from unetseg.transforms.io import LoadImage, LoadImaged, SaveImage, SaveImaged
from unetseg.transforms.labels import (
    AsDiscrete,
    AsDiscreted,
    ConvertBratsLabels,
    ConvertBratsLabelsd,
    EncodeLabels,
    EncodeLabelsd,
    FromLabelConventiond,
    OneHot,
    OneHotd,
    RegionsToBratsLabels,
    RegionsToBratsLabelsd,
)
from unetseg.transforms.metadata import INVERSES, invert, meta_key, record_operation
from unetseg.transforms.resample import RandAffined, Spacingd
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
)

__all__ = [
    "INVERSES",
    "Albumentations",
    "Albumentationsd",
    "ArrayTransformd",
    "AsDiscrete",
    "AsDiscreted",
    "CenterSpatialCrop",
    "CenterSpatialCropd",
    "CheckNonConstant",
    "CheckNonConstantd",
    "ClipIntensityPercentiles",
    "ClipIntensityPercentilesd",
    "Compose",
    "ConvertBratsLabels",
    "ConvertBratsLabelsd",
    "CropForeground",
    "CropForegroundd",
    "EncodeLabels",
    "EncodeLabelsd",
    "FromLabelConventiond",
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
    "RandomizableTransform",
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
    "record_operation",
    "resample_to_shape",
    "uncrop_box",
]
