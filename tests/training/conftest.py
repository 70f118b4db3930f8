"""Tiny generated BraTS-like cases, preprocessed once for every training test."""

from __future__ import annotations

import pytest

from unetseg.data import PreprocessedCache, find_brats_cases, write_synthetic_brats
from unetseg.transforms import (
    Compose,
    ConvertBratsLabelsd,
    CropForegroundd,
    LoadImaged,
    NormalizeIntensityd,
)

SHAPE = (32, 32, 24)

collect_ignore = ["run_training.py"]  # a script the tests run in a subprocess


def preprocessing() -> Compose:
    keys = ["image", "label"]
    return Compose(
        [
            LoadImaged(keys),
            ConvertBratsLabelsd("label"),
            NormalizeIntensityd("image", nonzero=True, channel_wise=True),
            CropForegroundd(keys, source_key="image"),
        ]
    )


def build_cache(root, cache):
    """Write three generated cases (all with enhancing tumour) and preprocess them."""
    write_synthetic_brats(root, 3, shape=SHAPE, seed=3, progress=False)
    records = find_brats_cases(root, require_labels=True)
    return PreprocessedCache(cache, preprocessing()).build(records, progress=False)


@pytest.fixture(scope="session")
def cached_cases(tmp_path_factory):
    root = tmp_path_factory.mktemp("training")
    return build_cache(root / "data", root / "cache")
