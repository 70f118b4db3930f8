"""Datasets in the nnU-Net raw format and the Medical Segmentation Decathlon's, and what
their labels mean.

Both describe themselves in a ``dataset.json``; :func:`find_dataset` reads it, finds
the cases and returns a :class:`DatasetDescription`: the records (``id``, ``image``, ``label``, as
:func:`~unetseg.data.find_brats_cases` returns them), the test cases without labels,
the channel names and a :class:`~unetseg.task.Task` built from the labels.

nnU-Net raw (``Dataset001_BrainTumour/``)::

    dataset.json   {"channel_names": {"0": "FLAIR", ...}, "labels": {"background": 0,
                    "edema": 1, ...}, "file_ending": ".nii.gz", ...}
    imagesTr/CASE_0000.nii.gz, CASE_0001.nii.gz, ...    one file per channel
    labelsTr/CASE.nii.gz
    imagesTs/CASE_0000.nii.gz, ...

Labels may be regions (``"whole tumor": [1, 2, 3]``) with ``regions_class_order``, the
label painted for each region; the task is then regions (sigmoid), otherwise classes
(softmax).

Medical Segmentation Decathlon (``Task01_BrainTumour/``)::

    dataset.json   {"modality": {"0": "FLAIR", ...}, "labels": {"0": "background", ...},
                    "training": [{"image": "./imagesTr/BRATS_001.nii.gz",
                                  "label": "./labelsTr/BRATS_001.nii.gz"}, ...],
                    "test": ["./imagesTs/BRATS_485.nii.gz", ...]}
    imagesTr/BRATS_001.nii.gz      4D: every channel in one file

:func:`~unetseg.data.LoadImage` reads both: a list of 3D files is stacked, a 4D file
is read as its channels.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from unetseg.errors import ConfigError, DataError
from unetseg.task import Task

__all__ = ["DATASET_FORMATS", "DatasetDescription", "find_dataset", "task_from_labels"]

#: The formats :func:`find_dataset` reads (BraTS folders are read by
#: :func:`~unetseg.data.find_brats_cases`).
DATASET_FORMATS = ("nnunet", "msd")


@dataclasses.dataclass(frozen=True)
class DatasetDescription:
    """Cases found in a dataset folder, and what their labels mean.

    Args:
        format: ``"nnunet"`` or ``"msd"``.
        root: The dataset folder.
        name: The dataset's name (``dataset.json``'s ``name``, else the folder's).
        records: Training cases sorted by id: ``id``, ``image`` (a list of per-channel
            files, or one 4D file), ``label`` (``None`` where not required).
        test_records: The cases of ``imagesTs`` (no labels), sorted by id.
        channel_names: One name per image channel, in channel order.
        task: What the labels mean: regions or classes, from ``labels``.
        file_ending: The image file ending (``".nii.gz"``).
    """

    format: str
    root: Path
    name: str
    records: list[dict[str, Any]]
    test_records: list[dict[str, Any]]
    channel_names: tuple[str, ...]
    task: Task
    file_ending: str = ".nii.gz"


def task_from_labels(
    name: str, labels: Mapping[str, Any], regions_class_order: Any = None, *, where: str = ""
) -> Task:
    """A :class:`~unetseg.task.Task` from nnU-Net's ``labels`` (name → label, or name →
    list of labels for a region) and ``regions_class_order``.

    Args:
        name: The task's name.
        labels: ``{"background": 0, "edema": 1, ...}`` (classes) or
            ``{"background": 0, "whole tumor": [1, 2, 3], ...}`` (regions).
        regions_class_order: For regions, the label painted for each region in order.
        where: The file, for messages.

    Raises:
        DataError: For labels that describe no task (the message names the file).

    Example:
        >>> task_from_labels("lesions", {"background": 0, "lesion": 1}).kind
        'classes'
        >>> labels = {"background": 0, "whole": [1, 2], "core": [2]}
        >>> task_from_labels("tumour", labels, [1, 2]).channel_names
        ('whole', 'core')
    """
    where = where or "labels"
    if not isinstance(labels, Mapping) or not labels:
        raise DataError(f"{where}: 'labels' must be a mapping of names to labels.")
    if "ignore" in labels:
        raise DataError(
            f"{where}: the 'ignore' label (voxels without annotation) is not supported yet."
        )
    foreground = {k: v for k, v in labels.items() if v != 0}
    try:
        if any(isinstance(v, list) for v in foreground.values()):
            regions = {k: v if isinstance(v, list) else [v] for k, v in foreground.items()}
            if regions_class_order is None and len(regions) > 1:
                raise DataError(
                    f"{where}: region labels need 'regions_class_order' (the label painted "
                    "for each region)."
                )
            return Task.regions(name, regions, paint=regions_class_order)
        classes = sorted(((str(k), int(v)) for k, v in labels.items()), key=lambda kv: kv[1])
        return Task.classes(name, dict(classes))  # by label: the background (0) first
    except (ConfigError, TypeError, ValueError) as error:
        raise DataError(f"{where}: the labels {dict(labels)} describe no task: {error}") from error


def _read_json(path: Path) -> dict[str, Any]:
    try:
        description = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise DataError(f"Cannot read {path}: {error}") from error
    if not isinstance(description, dict):
        raise DataError(f"{path} must hold a JSON object.")
    return description


def _channels(values: Any, path: Path, key: str) -> tuple[str, ...]:
    if not isinstance(values, Mapping) or not values:
        raise DataError(f"{path}: {key!r} must map channel numbers to names.")
    try:
        order = sorted(values, key=int)
    except ValueError as error:
        raise DataError(f"{path}: {key!r} keys must be channel numbers: {error}") from error
    if [int(k) for k in order] != list(range(len(order))):
        raise DataError(f"{path}: {key!r} must number the channels 0 to {len(order) - 1}.")
    return tuple(str(values[k]) for k in order)


def find_dataset(
    root: str | os.PathLike[str], *, require_labels: bool | None = None
) -> DatasetDescription:
    """Read a dataset folder in the nnU-Net raw or the Decathlon format.

    Args:
        root: The folder holding ``dataset.json``.
        require_labels: ``True`` refuses a training case without its label file,
            ``False`` ignores labels, ``None`` accepts either.

    Raises:
        DataError: If the folder has no ``dataset.json``, it is not one of these formats,
            or a case lacks a file (the message names the case and the file).
    """
    root = Path(root)
    path = root / "dataset.json"
    if not path.is_file():
        raise DataError(
            f"{root} has no dataset.json: it is not an nnU-Net raw or Decathlon dataset."
        )
    description = _read_json(path)
    if "channel_names" in description:
        return _nnunet(root, path, description, require_labels)
    if "modality" in description and "training" in description:
        return _msd(root, path, description, require_labels)
    raise DataError(
        f"{path} has neither 'channel_names' (nnU-Net raw) nor 'modality' and 'training' "
        "(Medical Segmentation Decathlon)."
    )


def _nnunet(
    root: Path, path: Path, description: dict[str, Any], require_labels: bool | None
) -> DatasetDescription:
    channels = _channels(description["channel_names"], path, "channel_names")
    ending = str(description.get("file_ending", ".nii.gz"))
    name = str(description.get("name") or root.name)
    task = task_from_labels(
        name,
        description.get("labels"),
        description.get("regions_class_order"),
        where=str(path),
    )
    records = _nnunet_cases(root / "imagesTr", channels, ending)
    if not records:
        raise DataError(f"{root / 'imagesTr'} holds no cases ending in _0000{ending}.")
    for record in records:
        label = root / "labelsTr" / f"{record['id']}{ending}"
        record["label"] = str(label) if label.is_file() and require_labels is not False else None
        if require_labels and record["label"] is None:
            raise DataError(f"Case {record['id']} has no label file {label}.")
    tests = _nnunet_cases(root / "imagesTs", channels, ending)
    for record in tests:
        record["label"] = None
    return DatasetDescription("nnunet", root, name, records, tests, channels, task, ending)


def _nnunet_cases(folder: Path, channels: tuple[str, ...], ending: str) -> list[dict[str, Any]]:
    """Cases of ``CASE_XXXX<ending>`` files, each with every channel."""
    if not folder.is_dir():
        return []
    pattern = re.compile(rf"^(.+)_(\d{{4}}){re.escape(ending)}$")
    files: dict[str, dict[int, Path]] = {}
    for file in folder.iterdir():
        match = pattern.match(file.name)
        if match and not file.name.startswith("."):
            files.setdefault(match.group(1), {})[int(match.group(2))] = file
    records = []
    for case in sorted(files):
        found = files[case]
        if sorted(found) != list(range(len(channels))):
            missing = [f"{case}_{i:04d}{ending}" for i in range(len(channels)) if i not in found]
            raise DataError(
                f"Case {case} in {folder} needs {len(channels)} channel files "
                f"({', '.join(channels)}); missing: {', '.join(missing) or 'none'}, extra: "
                f"{sorted(set(found) - set(range(len(channels))))}."
            )
        records.append({"id": case, "image": [str(found[i]) for i in range(len(channels))]})
    return records


def _msd(
    root: Path, path: Path, description: dict[str, Any], require_labels: bool | None
) -> DatasetDescription:
    channels = _channels(description["modality"], path, "modality")
    name = str(description.get("name") or root.name)
    labels = description.get("labels")
    if not isinstance(labels, Mapping):
        raise DataError(f"{path}: 'labels' must map label numbers to names.")
    try:
        by_name = {str(label_name): int(value) for value, label_name in labels.items()}
    except ValueError as error:
        raise DataError(f"{path}: 'labels' keys must be label numbers: {error}") from error
    task = task_from_labels(name, by_name, where=str(path))

    def file(entry: Any, what: str) -> Path:
        if not isinstance(entry, str):
            raise DataError(f"{path}: a {what} entry must be a path, got {entry!r}.")
        found = (root / entry).resolve()
        if not found.is_file():
            raise DataError(f"{path} lists {entry}, which is not a file in {root}.")
        return found

    def case_id(image: Path) -> str:
        return image.name.split(".nii")[0]

    records = []
    for entry in description.get("training") or []:
        if not isinstance(entry, Mapping) or "image" not in entry:
            raise DataError(f"{path}: 'training' entries need an 'image', got {entry!r}.")
        image = file(entry["image"], "training image")
        record: dict[str, Any] = {"id": case_id(image), "image": str(image), "label": None}
        if require_labels is not False and entry.get("label"):
            record["label"] = str(file(entry["label"], "training label"))
        if require_labels and record["label"] is None:
            raise DataError(f"Case {record['id']} in {path} has no label.")
        records.append(record)
    if not records:
        raise DataError(f"{path} lists no training cases.")
    tests = [
        {"id": case_id(image), "image": str(image), "label": None}
        for image in (file(entry, "test image") for entry in description.get("test") or [])
    ]
    records.sort(key=lambda r: r["id"])
    tests.sort(key=lambda r: r["id"])
    return DatasetDescription("msd", root, name, records, tests, channels, task, ".nii.gz")
