"""Data: BraTS 2020 discovery and splits, generated cases, a cache and patch batches.

- ``unetseg.data.brats``: :func:`find_brats_cases` in the official and Kaggle
  layouts, ``name_mapping.csv`` and ``survival_info.csv``, deterministic splits.
- ``unetseg.data.synthetic``: :func:`write_synthetic_brats` writes BraTS-like
  cases in the official layout.

- ``unetseg.data.dataset``: :class:`Dataset`, records plus a transform chain.
- ``unetseg.data.cache``: :class:`PreprocessedCache`, preprocessing once into
  memory-mappable ``.npy`` files.
- ``unetseg.data.patches``: :class:`PatchDataset`, batches of random patches
  with foreground oversampling as a ``keras.utils.PyDataset``.

- ``unetseg.data.tf_dataset``: :func:`as_tf_dataset`, the same batches as a
  prefetched ``tf.data.Dataset``.
"""

from typing import TYPE_CHECKING

from unetseg.data.brats import (
    MODALITIES,
    MODALITIES_2023,
    find_brats_cases,
    kfold_splits,
    read_name_mapping,
    read_survival_info,
    shard_cases,
    train_val_test_split,
)
from unetseg.data.cache import CachedCase, PreprocessedCache
from unetseg.data.dataset import Dataset
from unetseg.data.formats import (
    DATASET_FORMATS,
    DatasetDescription,
    find_dataset,
    task_from_labels,
)
from unetseg.data.synthetic import (
    BRATS_FIELD_OF_VIEW,
    BRATS_SHAPE,
    QUICK_SHAPE,
    brats_affine,
    generate_case,
    load_anatomy,
    write_synthetic_brats,
)
from unetseg.lazy import lazy_attributes

# Keras (and its backend, seconds to start) is imported only by what needs it, so
# finding, generating and caching cases does not start it.
__getattr__ = lazy_attributes(
    __name__,
    {"PatchDataset": "unetseg.data.patches", "as_tf_dataset": "unetseg.data.tf_dataset"},
)

if TYPE_CHECKING:
    from unetseg.data.patches import PatchDataset
    from unetseg.data.tf_dataset import as_tf_dataset

__all__ = [
    "BRATS_FIELD_OF_VIEW",
    "BRATS_SHAPE",
    "DATASET_FORMATS",
    "MODALITIES",
    "MODALITIES_2023",
    "QUICK_SHAPE",
    "CachedCase",
    "Dataset",
    "DatasetDescription",
    "PatchDataset",
    "PreprocessedCache",
    "as_tf_dataset",
    "brats_affine",
    "find_brats_cases",
    "find_dataset",
    "generate_case",
    "kfold_splits",
    "load_anatomy",
    "read_name_mapping",
    "read_survival_info",
    "shard_cases",
    "task_from_labels",
    "train_val_test_split",
    "write_synthetic_brats",
]
