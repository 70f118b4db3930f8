"""Data: BraTS 2020 discovery and splits, and generated BraTS-like cases.

- :mod:`~unetseg.data.brats`: :func:`find_brats_cases` in the official and Kaggle
  layouts, ``name_mapping.csv`` and ``survival_info.csv``, deterministic splits.
- :mod:`~unetseg.data.synthetic`: :func:`write_synthetic_brats` writes BraTS-like
  cases in the official layout.

The preprocessing cache and the patch pipelines (``PyDataset``, ``tf.data``) are
still to come.
"""

from unetseg.data.brats import (
    MODALITIES,
    find_brats_cases,
    kfold_splits,
    read_name_mapping,
    read_survival_info,
    train_val_test_split,
)
from unetseg.data.synthetic import BRATS_SHAPE, QUICK_SHAPE, generate_case, write_synthetic_brats

__all__ = [
    "BRATS_SHAPE",
    "MODALITIES",
    "QUICK_SHAPE",
    "find_brats_cases",
    "generate_case",
    "kfold_splits",
    "read_name_mapping",
    "read_survival_info",
    "train_val_test_split",
    "write_synthetic_brats",
]
