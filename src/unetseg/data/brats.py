"""Finding BraTS 2020 cases on disk, in the official and in the Kaggle layout.

The official layout (``MICCAI_BraTS2020_TrainingData``)::

    BraTS20_Training_001/
        BraTS20_Training_001_flair.nii.gz
        BraTS20_Training_001_t1.nii.gz
        BraTS20_Training_001_t1ce.nii.gz
        BraTS20_Training_001_t2.nii.gz
        BraTS20_Training_001_seg.nii.gz      (training cases only)
    name_mapping.csv                         (the grade, HGG or LGG)
    survival_info.csv                        (age, survival, extent of resection)

The widespread Kaggle copy stores the same files uncompressed (``.nii``), and one
training case (``BraTS20_Training_355``) has its segmentation under the odd name
``W39_1998.09.19_Segm.nii``. Validation cases (``BraTS20_Validation_XXX``) have no
segmentation.

:func:`find_brats_cases` returns plain records — ``id``, ``image`` (the four paths in
the fixed order FLAIR, T1, T1ce, T2), ``label`` (a path or ``None``), ``grade`` and
the survival fields — sorted by case id, never in directory-listing order.
"""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from unetseg.errors import ConfigError, DataError

__all__ = [
    "MODALITIES",
    "MODALITIES_2023",
    "find_brats_cases",
    "kfold_splits",
    "read_name_mapping",
    "read_survival_info",
    "shard_cases",
    "train_val_test_split",
]

#: The modalities, in the channel order every unetseg BraTS pipeline uses.
MODALITIES: tuple[str, ...] = ("flair", "t1", "t1ce", "t2")

#: Case folders: BraTS 2020 (``BraTS20_Training_001``), 2021 (``BraTS2021_00000``) and
#: 2023 and later (``BraTS-GLI-00000-000``; also MEN, MET, PED, SSA).
_CASE = re.compile(
    r"^(BraTS20_(Training|Validation)_\d{3}|BraTS2021_\d{5}|BraTS-[A-Z]{2,4}-\d{5}-\d{3})$"
)
_BRATS_2023 = re.compile(r"^BraTS-[A-Z]{2,4}-\d{5}-\d{3}$")

#: The BraTS 2023 file names of the modalities: FLAIR is ``t2f``, T1 ``t1n``, T1ce
#: ``t1c``, T2 ``t2w`` (``BraTS-GLI-00000-000-t2f.nii.gz``).
MODALITIES_2023: dict[str, str] = {"flair": "t2f", "t1": "t1n", "t1ce": "t1c", "t2": "t2w"}
_NIFTI = re.compile(r"\.nii(\.gz)?$")


def _nifti_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and _NIFTI.search(p.name))


def _one(candidates: list[Path], case: str, what: str) -> Path | None:
    if len(candidates) > 1:
        names = ", ".join(p.name for p in candidates)
        raise DataError(
            f"Case {case} has {len(candidates)} candidate files for the {what}: {names}. "
            "Remove all but one."
        )
    return candidates[0] if candidates else None


def _case_record(folder: Path) -> dict[str, Any]:
    case = folder.name
    files = _nifti_files(folder)
    images = []
    edition_2023 = bool(_BRATS_2023.match(case))
    for modality in MODALITIES:
        suffix = f"-{MODALITIES_2023[modality]}" if edition_2023 else f"_{modality}"
        pattern = re.compile(rf"{re.escape(suffix)}\.nii(\.gz)?$", re.IGNORECASE)
        found = _one([p for p in files if pattern.search(p.name)], case, f"{modality} modality")
        if found is None:
            raise DataError(
                f"Case {case} in {folder.parent} has no {modality} image "
                f"(expected {case}{suffix}.nii.gz or .nii); it has "
                f"{[p.name for p in files] or 'no NIfTI files'}."
            )
        images.append(str(found))
    modality_files = {Path(p) for p in images}
    segmentations = [
        p for p in files if p not in modality_files and re.search(r"seg", p.name, re.IGNORECASE)
    ]
    label = _one(segmentations, case, "segmentation")
    record: dict[str, Any] = {"id": case, "image": images, "label": str(label) if label else None}
    if edition_2023:
        # Enhancing tumour is 3 in these files; unetseg works in the 2020 labels and
        # writes predictions back in these (unetseg.regions.LABEL_CONVENTIONS).
        record["label_convention"] = "brats2023"
    return record


def _read_csv(path: str | os.PathLike[str]) -> tuple[list[str], list[dict[str, str]]]:
    """The columns and rows of a CSV file: UTF-8 (with or without a BOM), or Windows-1252
    as spreadsheet programs on Windows write it.

    Raises:
        DataError: If the file is neither.
    """
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            with open(path, newline="", encoding=encoding) as handle:
                reader = csv.DictReader(handle)
                rows = list(reader)
                return list(reader.fieldnames or []), rows
        except UnicodeDecodeError:
            continue
        except csv.Error as error:
            raise DataError(f"{path} is not a readable CSV file: {error}") from error
    raise DataError(f"{path} is neither UTF-8 nor Windows-1252 text.")


def read_name_mapping(path: str | os.PathLike[str]) -> dict[str, str]:
    """Read ``name_mapping.csv``: BraTS 2020 case id → grade (``HGG`` or ``LGG``).

    Args:
        path: The CSV file, UTF-8 or Windows-1252, with the ``BraTS_2020_subject_ID`` and
            ``Grade`` columns.

    Raises:
        DataError: If the file lacks the ``Grade`` or ``BraTS_2020_subject_ID`` column.
    """
    fieldnames, rows = _read_csv(path)
    columns = set(fieldnames)
    needed = {"Grade", "BraTS_2020_subject_ID"}
    if not needed <= columns:
        raise DataError(
            f"{path} lacks the columns {sorted(needed - columns)}; found {sorted(columns)}."
        )
    return {
        (row["BraTS_2020_subject_ID"] or "").strip(): (row["Grade"] or "").strip() for row in rows
    }


def _number(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def read_survival_info(path: str | os.PathLike[str]) -> dict[str, dict[str, Any]]:
    """Read ``survival_info.csv``: case id → age, survival and extent of resection.

    Survival is a number of days for most cases and text for some (``"ALIVE (361 days
    later)"``): ``survival_days`` is then ``None`` and ``survival_raw`` keeps the text.

    Args:
        path: The CSV file, UTF-8 or Windows-1252, with a case id column whose name starts
            with ``Brats`` (``Brats20ID``) and the ``Age``, ``Survival_days`` and
            ``Extent_of_Resection`` columns.
    """
    fieldnames, rows = _read_csv(path)
    id_column = next((c for c in fieldnames if c.lower().startswith("brats")), None)
    if id_column is None:
        raise DataError(f"{path} has no case id column (Brats20ID); found {fieldnames}.")
    info = {}
    for row in rows:
        raw = (row.get("Survival_days") or "").strip()
        days = _number(raw)
        info[(row[id_column] or "").strip()] = {
            "age": _number(row.get("Age", "")),
            "survival_days": int(days) if days is not None else None,
            "survival_raw": raw or None,
            "extent_of_resection": (row.get("Extent_of_Resection") or "").strip() or None,
        }
    return info


def find_brats_cases(
    root: str | os.PathLike[str], *, require_labels: bool | None = None
) -> list[dict]:
    """Find the BraTS cases under ``root`` (a training or validation folder).

    BraTS 2020 (``BraTS20_Training_001/BraTS20_Training_001_flair.nii.gz``), 2021
    (``BraTS2021_00000/BraTS2021_00000_flair.nii.gz``, the same files and labels) and
    2023 and later (``BraTS-GLI-00000-000/BraTS-GLI-00000-000-t2f.nii.gz``, modalities
    ``t2f``/``t1n``/``t1c``/``t2w``, enhancing tumour labelled 3). A 2023 record says
    ``"label_convention": "brats2023"``: the recipes read its labels as the 2020 ones
    (3 → 4) and write its predictions in its own (4 → 3).

    Args:
        root: The folder holding the case folders (it may also be the parent of one
            such folder, as the Kaggle copy nests them).
        require_labels: ``True`` refuses a case without segmentation (training data),
            ``False`` ignores segmentations, ``None`` accepts either.

    Returns:
        Records sorted by id: ``id``, ``image`` (FLAIR, T1, T1ce, T2 paths), ``label``,
        ``grade``, ``age``, ``survival_days``, ``survival_raw``, ``extent_of_resection``
        (``None`` where unknown), and ``label_convention`` for BraTS 2023 cases.

    Raises:
        DataError: If ``root`` does not exist or holds no case, or a case lacks a
            modality, has two candidate files for one, or (with ``require_labels``)
            lacks its segmentation.
    """
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"BraTS folder {root} does not exist or is not a folder.")
    folders = [p for p in root.iterdir() if p.is_dir() and _CASE.match(p.name)]
    if not folders:
        nested = [p for p in root.iterdir() if p.is_dir()]
        for candidate in nested:
            inner = [p for p in candidate.iterdir() if p.is_dir() and _CASE.match(p.name)]
            if inner:
                root, folders = candidate, inner
                break
    if not folders:
        raise DataError(
            f"No BraTS case folders (BraTS20_Training_XXX, BraTS20_Validation_XXX, "
            f"BraTS2021_XXXXX or BraTS-GLI-XXXXX-XXX) in {root}; is this the "
            "MICCAI_BraTS2020_TrainingData folder?"
        )
    grades = {}
    mapping = next(iter(sorted(root.glob("name_mapping*.csv"))), None)
    if mapping is not None:
        grades = read_name_mapping(mapping)
    survival = {}
    survival_file = root / "survival_info.csv"
    if survival_file.is_file():
        survival = read_survival_info(survival_file)
    records = []
    for folder in sorted(folders, key=lambda p: p.name):
        record = _case_record(folder)
        if require_labels and record["label"] is None:
            raise DataError(f"Case {record['id']} in {root} has no segmentation file.")
        if require_labels is False:
            record["label"] = None
        record["grade"] = grades.get(record["id"])
        extra = survival.get(record["id"], {})
        for key in ("age", "survival_days", "survival_raw", "extent_of_resection"):
            record[key] = extra.get(key)
        records.append(record)
    return records


def _ids(records: Sequence[dict[str, Any] | str]) -> list[str]:
    ids = sorted(r["id"] if isinstance(r, dict) else str(r) for r in records)
    if len(set(ids)) != len(ids):
        raise DataError("Case ids repeat; a split needs unique ids.")
    return ids


def kfold_splits(
    records: Sequence[dict[str, Any] | str], k: int = 5, seed: int = 0
) -> list[tuple[list[str], list[str]]]:
    """Deterministic k-fold splits by sorted case id and seed.

    Args:
        records: The cases: records with an ``id`` key (as :func:`find_brats_cases` returns)
            or plain case ids; the ids must be unique.
        k: The number of folds, from 2 to the number of cases.
        seed: The seed of the random permutation that assigns cases to folds.

    Returns:
        ``k`` pairs ``(train_ids, validation_ids)``; every case is validated once.
    """
    ids = _ids(records)
    if not isinstance(k, int) or not 2 <= k <= len(ids):
        raise ConfigError(
            f"k must be an integer between 2 and the number of cases ({len(ids)}), got {k!r}."
        )
    order = np.random.default_rng(seed).permutation(len(ids))
    folds = [sorted(ids[i] for i in order[f::k]) for f in range(k)]
    return [
        (sorted(i for j, fold in enumerate(folds) if j != f for i in fold), folds[f])
        for f in range(k)
    ]


def shard_cases(records: Sequence[dict[str, Any]], index: int, count: int) -> list[dict[str, Any]]:
    """Shard ``index`` of ``count``: every ``count``-th case by sorted id, starting at
    ``index``, so ``count`` machines (or GPUs) split a set of cases; together the shards
    hold every case exactly once, and their sizes differ by at most one.

    Args:
        records: The cases, records with an ``id`` key (unique).
        index: Which shard, from 0 to ``count`` − 1.
        count: How many shards.

    Returns:
        The shard's records, in id order.

    Raises:
        ConfigError: If ``index`` is not in ``[0, count)`` or ``count`` < 1.
        DataError: If case ids repeat.

    Example:
        >>> cases = [{"id": f"case{i}"} for i in range(5)]
        >>> [r["id"] for r in shard_cases(cases, 1, 2)]
        ['case1', 'case3']
    """
    if not isinstance(count, int) or count < 1 or not isinstance(index, int):
        raise ConfigError(f"A shard needs whole numbers, index < count, got {index}/{count}.")
    if not 0 <= index < count:
        raise ConfigError(f"The shard index must be in 0–{count - 1}, got {index} (of {count}).")
    by_id = {r["id"]: r for r in records}
    ids = _ids(records)
    return [by_id[i] for i in ids[index::count]]


def train_val_test_split(
    records: Sequence[dict[str, Any] | str],
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 0,
) -> tuple[list[str], list[str], list[str]]:
    """Deterministic train/validation/test split by sorted case id and seed.

    Args:
        records: The cases: records with an ``id`` key (as :func:`find_brats_cases` returns)
            or plain case ids; the ids must be unique.
        fractions: The shares of the train, validation and test parts: three non-negative
            numbers summing to 1; the train and validation counts are rounded, the test part
            takes the rest.
        seed: The seed of the random permutation that assigns cases to the parts.

    Returns:
        ``(train_ids, validation_ids, test_ids)``, each sorted.

    Raises:
        ConfigError: If ``fractions`` are not three non-negative numbers summing to 1.
        DataError: If case ids repeat.

    Example:
        >>> cases = [f"case{i}" for i in range(10)]
        >>> train, val, test = train_val_test_split(cases, (0.6, 0.2, 0.2))
        >>> len(train), len(val), len(test), sorted(train + val + test) == sorted(cases)
        (6, 2, 2, True)
    """
    ids = _ids(records)
    if len(fractions) != 3 or min(fractions) < 0 or abs(sum(fractions) - 1.0) > 1e-6:
        raise ConfigError(
            f"fractions must be three non-negative numbers summing to 1, got {fractions}."
        )
    order = np.random.default_rng(seed).permutation(len(ids))
    n_train = round(fractions[0] * len(ids))
    n_val = round(fractions[1] * len(ids))
    parts = order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]
    return tuple(sorted(ids[i] for i in part) for part in parts)  # type: ignore[return-value]
