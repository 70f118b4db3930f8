"""BraTS labels and the tumour regions evaluated in the challenge.

BraTS 2020 label maps hold 0 (background), 1 (necrotic and non-enhancing tumour
core), 2 (peritumoral oedema) and 4 (GD-enhancing tumour); there is no label 3.
The challenge evaluates three nested regions:

========================  ======  ===========
region                    key     labels
========================  ======  ===========
whole tumour              ``WT``  1, 2, 4
tumour core               ``TC``  1, 4
enhancing tumour          ``ET``  4
========================  ======  ===========

These definitions live here once; transforms, metrics and post-processing use them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from unetseg.errors import DataError

__all__ = [
    "BRATS_LABELS",
    "BRATS_REGIONS",
    "LABEL_CONVENTIONS",
    "REGION_NAMES",
    "convert_label_convention",
    "integer_label_map",
    "label_map_to_region_masks",
    "labels_to_regions",
    "regions_to_labels",
]

#: The labels a BraTS 2020 segmentation may contain.
BRATS_LABELS: tuple[int, ...] = (0, 1, 2, 4)

#: Region key → the labels it contains, in the challenge's order.
BRATS_REGIONS: dict[str, tuple[int, ...]] = {"WT": (1, 2, 4), "TC": (1, 4), "ET": (4,)}

#: How each BraTS edition writes its labels, as ``{its label: the BraTS 2020 label}``
#: (unetseg's BraTS tasks, metrics and files use the 2020 labels inside): BraTS 2023 and
#: later write the enhancing tumour as 3, BraTS 2020 and 2021 as 4.
LABEL_CONVENTIONS: dict[str, dict[int, int]] = {"brats2020": {}, "brats2023": {3: 4}}

# The labels a file of each convention may hold (BraTS 2024's post-treatment label 4,
# the resection cavity, is not one of them: it must not pass as enhancing tumour).
_CONVENTION_LABELS: dict[str, tuple[int, ...]] = {"brats2023": (0, 1, 2, 3)}

#: The long names of the regions.
REGION_NAMES: dict[str, str] = {
    "WT": "whole tumour",
    "TC": "tumour core",
    "ET": "enhancing tumour",
}


def integer_label_map(
    label_map: Any,
    labels: Sequence[int] = BRATS_LABELS,
    *,
    where: str = "The label map",
    owner: str = "a BraTS label map holds",
) -> np.ndarray:
    """Validate a label map and return it as integers without a trailing axis of 1.

    Args:
        label_map: Integer (or whole-number float) labels, optionally ``(*spatial, 1)``.
        labels: The labels allowed.
        where: How to name the input in a message (a file or case id).
        owner: Who allows ``labels``, completing "but <owner> only [...]".

    Raises:
        DataError: If it is not integer-valued or holds a label not in ``labels``.

    Example:
        >>> integer_label_map(np.array([[0.0], [4.0]])).tolist()
        [0, 4]
    """
    label_map = np.asarray(label_map)
    if label_map.ndim > 1 and label_map.shape[-1] == 1:
        label_map = label_map[..., 0]
    if label_map.dtype.kind == "f":
        if not np.all(np.isfinite(label_map)) or np.any(label_map != np.round(label_map)):
            raise DataError(f"{where} must hold whole-number labels, found non-integer values.")
        label_map = label_map.astype(np.int16)
    elif label_map.dtype.kind not in "iub":
        raise DataError(f"{where} must be an integer label map, got dtype {label_map.dtype}.")
    labels = list(labels)
    valid = label_map == labels[0]
    for label in labels[1:]:
        valid |= label_map == label
    if not valid.all():
        # Only the (rare) invalid case pays for sorting the values it reports.
        unexpected = np.unique(label_map[~valid]).tolist()
        raise DataError(f"{where} contains labels {unexpected}, but {owner} only {labels}.")
    return label_map


def label_map_to_region_masks(
    label_map: np.ndarray, *, where: str = "The label map"
) -> dict[str, np.ndarray]:
    """Turn a BraTS label map into one contiguous boolean mask per region.

    The fast form for evaluation: each mask is its own C-contiguous array (one
    channel of a channels-last array is a strided view, slower to scan).

    Args:
        label_map: Integer labels 0/1/2/4, optionally with a trailing axis of 1.
        where: How to name the input in an error message (a file or case id).

    Returns:
        ``{"WT": mask, "TC": mask, "ET": mask}``.

    Raises:
        DataError: If the map holds a label other than 0, 1, 2 or 4, or is not integer.
    """
    label_map = integer_label_map(label_map, where=where)
    masks = {}
    for region, labels in BRATS_REGIONS.items():
        mask = label_map == labels[0]
        for label in labels[1:]:
            mask |= label_map == label
        masks[region] = mask
    return masks


def labels_to_regions(label_map: np.ndarray, *, where: str = "The label map") -> np.ndarray:
    """Turn a BraTS label map into the three region masks WT, TC and ET.

    Args:
        label_map: Integer labels 0/1/2/4, any spatial shape, optionally with a
            trailing channel axis of size 1.
        where: How to name the input in an error message (a file or case id).

    Returns:
        A ``uint8`` array of shape ``spatial + (3,)``, channels WT, TC, ET.

    Raises:
        DataError: If the map holds a label other than 0, 1, 2 or 4, or is not integer.

    Example:
        >>> labels_to_regions(np.array([0, 1, 2, 4])).T
        array([[0, 1, 1, 1],
               [0, 1, 0, 1],
               [0, 0, 0, 1]], dtype=uint8)
    """
    masks = label_map_to_region_masks(label_map, where=where)
    return np.stack(list(masks.values()), axis=-1).astype(np.uint8)


def regions_to_labels(regions: np.ndarray) -> np.ndarray:
    """Turn WT/TC/ET region masks (last axis) back into a BraTS label map.

    Where the regions are not nested (a TC voxel outside WT, say), the innermost
    region wins: 4 where ET; otherwise 1 where TC; otherwise 2 where WT.

    Args:
        regions: Boolean or 0/1 masks of shape ``spatial + (3,)``.

    Returns:
        A ``uint8`` label map of the spatial shape.

    Raises:
        DataError: If the last axis does not have three channels.

    Example:
        >>> regions_to_labels(labels_to_regions(np.array([0, 1, 2, 4])))
        array([0, 1, 2, 4], dtype=uint8)
    """
    regions = np.asarray(regions)
    if regions.ndim < 2 or regions.shape[-1] != len(BRATS_REGIONS):
        raise DataError(
            f"Region masks need a last axis of {len(BRATS_REGIONS)} channels (WT, TC, ET), "
            f"got shape {regions.shape}."
        )
    whole, core, enhancing = (regions[..., i].astype(bool) for i in range(3))
    labels = np.zeros(regions.shape[:-1], dtype=np.uint8)
    labels[whole] = 2
    labels[core] = 1
    labels[enhancing] = 4
    return labels


def convert_label_convention(
    label_map: np.ndarray, convention: str | None, *, to_dataset: bool = False
) -> np.ndarray:
    """A label map in the BraTS 2020 labels from one in ``convention``'s, or back.

    Args:
        label_map: An integer label map.
        convention: A name in :data:`LABEL_CONVENTIONS`; ``None`` is ``"brats2020"``.
        to_dataset: Convert from the 2020 labels into ``convention``'s instead (to
            write a prediction in the dataset's own labels).

    Returns:
        ``label_map`` itself when there is nothing to change, else a converted copy.

    Raises:
        DataError: For an unknown convention, or a label ``convention`` does not have.

    Example:
        >>> convert_label_convention(np.array([0, 1, 2, 3]), "brats2023").tolist()
        [0, 1, 2, 4]
        >>> convert_label_convention(np.array([0, 4]), "brats2023", to_dataset=True).tolist()
        [0, 3]
    """
    if convention is None:
        return label_map
    if convention not in LABEL_CONVENTIONS:
        raise DataError(
            f"Unknown label convention {convention!r}; known: {sorted(LABEL_CONVENTIONS)}."
        )
    mapping = LABEL_CONVENTIONS[convention]
    allowed = _CONVENTION_LABELS.get(convention)
    if not to_dataset and allowed is not None:
        found = np.unique(label_map)
        if unknown := sorted(set(found.tolist()) - set(allowed)):
            raise DataError(
                f"Labels {unknown} are not {convention} labels {list(allowed)} (BraTS 2024 "
                "post-treatment labels, such as 4 for the resection cavity, are not read)."
            )
    if to_dataset:
        mapping = {brats: own for own, brats in mapping.items()}
    if not mapping:
        return label_map
    converted = np.array(label_map, copy=True)
    for source, target in mapping.items():
        converted[label_map == source] = target
    return converted
