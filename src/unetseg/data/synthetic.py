"""Generated BraTS-like cases, so that everything runs without the real dataset.

Each case has four co-registered modalities (FLAIR, T1, T1ce, T2) and a label map
(0 background, 1 necrotic core, 2 oedema, 4 enhancing tumour), written in the
official BraTS 2020 layout with a ``name_mapping.csv``. The anatomy is simple but
the contrasts are the ones a radiologist would expect:

===================  =====  =====  =====  =====
tissue                T1    T1ce    T2    FLAIR
===================  =====  =====  =====  =====
white matter          0.80   0.80   0.35   0.45
grey matter           0.60   0.60   0.50   0.55
CSF                   0.20   0.20   1.00   0.10
oedema (2)            0.50   0.50   0.85   0.95
necrotic core (1)     0.30   0.30   0.90   0.60
enhancing rim (4)     0.55   1.00   0.60   0.75
===================  =====  =====  =====  =====

Tumours vary in size, shape and position; about a fifth of the cases have no
enhancing tumour (as the low-grade BraTS cases often have none). Each modality
gets a smooth multiplicative bias field and Gaussian noise. The same seed gives
the same cases, bit for bit.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
from numpy.polynomial import legendre

from unetseg.errors import ConfigError
from unetseg.fileio import atomic_write
from unetseg.transforms.io import SaveImage

__all__ = ["BRATS_SHAPE", "QUICK_SHAPE", "generate_case", "write_synthetic_brats"]

#: The shape of a real BraTS volume.
BRATS_SHAPE = (240, 240, 155)
#: A small shape for quick tests.
QUICK_SHAPE = (96, 96, 64)

_TISSUES = ("background", "wm", "gm", "csf", "oedema", "necrotic", "enhancing")
# Intensity of each tissue (rows as in the module table), per modality FLAIR, T1, T1ce, T2.
_CONTRAST = {
    "background": (0.0, 0.0, 0.0, 0.0),
    "wm": (0.45, 0.80, 0.80, 0.35),
    "gm": (0.55, 0.60, 0.60, 0.50),
    "csf": (0.10, 0.20, 0.20, 1.00),
    "oedema": (0.95, 0.50, 0.50, 0.85),
    "necrotic": (0.60, 0.30, 0.30, 0.90),
    "enhancing": (0.75, 0.55, 1.00, 0.60),
}
# The affine of a BraTS volume: 1 mm voxels, LPS-flipped x and y as in the files.
_AFFINE = np.array(
    [[-1.0, 0, 0, 0], [0, -1.0, 0, 239.0], [0, 0, 1.0, 0], [0, 0, 0, 1.0]], dtype=np.float64
)


def _smooth_field(shape: tuple[int, ...], rng: np.random.Generator, strength: float) -> np.ndarray:
    axes = [np.linspace(-1, 1, n) for n in shape]
    field = np.zeros(shape, dtype=np.float64)
    for orders in ((1, 0, 0), (0, 1, 0), (0, 0, 1), (2, 0, 0), (0, 2, 0), (1, 1, 0), (0, 1, 1)):
        term = np.ones((), dtype=np.float64)
        for axis, order in enumerate(orders):
            unit = np.zeros(order + 1)
            unit[order] = 1.0
            shape_1d = [1, 1, 1]
            shape_1d[axis] = -1
            term = term * legendre.legval(axes[axis], unit).reshape(shape_1d)
        field += rng.uniform(-strength, strength) * term
    return field


def generate_case(
    shape: tuple[int, int, int] = BRATS_SHAPE, seed: int = 0, *, enhancing: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Generate one case in memory.

    Args:
        shape: The volume shape.
        seed: The case's seed.
        enhancing: Force an enhancing tumour (``True``) or none (``False``); ``None``
            decides at random (about four cases in five have one).

    Returns:
        ``(image, label)``: float32 ``(*shape, 4)`` in the order FLAIR, T1, T1ce, T2,
        scaled like MRI intensities (0 outside the head), and uint8 labels ``shape``.
    """
    if len(shape) != 3 or min(shape) < 16:
        raise ConfigError(f"shape must be three sizes of at least 16, got {shape!r}.")
    rng = np.random.default_rng(seed)
    size = np.array(shape, dtype=np.float32)
    grid = np.indices(shape, dtype=np.float32)
    centre = (size - 1) / 2 + rng.uniform(-0.03, 0.03, 3) * size
    radii = size * np.array([0.36, 0.43, 0.42]) * rng.uniform(0.93, 1.05, 3)
    offsets = (grid - centre[:, None, None, None]) / radii[:, None, None, None]
    brain_radius = np.sqrt((offsets**2).sum(axis=0)) + 0.04 * _smooth_field(shape, rng, 1.0)
    tissue = np.zeros(shape, dtype=np.uint8)  # indices into _TISSUES
    tissue[brain_radius < 1.0] = _TISSUES.index("csf")  # the CSF rim under the skull
    tissue[brain_radius < 0.95] = _TISSUES.index("gm")  # the cortex
    tissue[brain_radius < 0.80] = _TISSUES.index("wm")
    for side in (-1, 1):  # two lateral ventricles
        ventricle = offsets.copy()
        ventricle[0] -= side * 0.18
        ventricle /= np.array([0.08, 0.30, 0.15])[:, None, None, None]
        tissue[(ventricle**2).sum(axis=0) < 1.0] = _TISSUES.index("csf")

    # The tumour: a lumpy ellipsoid inside the white matter, with nested sub-regions.
    scale = float(min(shape)) / 155.0
    tumour_radius = rng.uniform(20.0, 38.0) * scale
    direction = rng.normal(size=3)
    direction /= np.linalg.norm(direction)
    tumour_centre = centre + direction * rng.uniform(0.1, 0.45) * radii
    stretch = rng.uniform(0.75, 1.3, 3)
    relative = (grid - tumour_centre[:, None, None, None]) / (stretch[:, None, None, None])
    distance = np.sqrt((relative**2).sum(axis=0)) / tumour_radius
    distance += 0.12 * _smooth_field(shape, rng, 1.0)
    inside_brain = brain_radius < 0.93
    if enhancing is None:
        enhancing = bool(rng.random() < 0.8)
    label = np.zeros(shape, dtype=np.uint8)
    label[(distance < 1.0) & inside_brain] = 2
    core = (distance < rng.uniform(0.45, 0.6)) & inside_brain
    if enhancing:
        label[core] = 4
        label[(distance < rng.uniform(0.25, 0.4)) & inside_brain] = 1
    else:
        label[core] = 1
    names = {2: "oedema", 4: "enhancing", 1: "necrotic"}
    for value, name in names.items():
        tissue[label == value] = _TISSUES.index(name)

    contrast = np.array([_CONTRAST[t] for t in _TISSUES], dtype=np.float32)
    image = contrast[tissue]  # (*shape, 4)
    head = tissue > 0
    for channel in range(4):
        bias = np.exp(_smooth_field(shape, rng, 0.12)).astype(np.float32)
        noise = rng.normal(0.0, 0.03, size=shape).astype(np.float32)
        values = (image[..., channel] + noise) * bias
        image[..., channel] = np.where(head, np.clip(values, 0.0, None), 0.0)
    image *= np.float32(rng.uniform(800.0, 1200.0))
    return image.astype(np.float32), label


def write_synthetic_brats(
    root: str | os.PathLike[str],
    num_cases: int,
    *,
    shape: tuple[int, int, int] = BRATS_SHAPE,
    seed: int = 0,
    validation: bool = False,
    progress: bool = True,
) -> list[Path]:
    """Write ``num_cases`` generated cases in the official BraTS 2020 layout.

    Args:
        root: The folder to write (``MICCAI_BraTS2020_TrainingData``-like); created
            if needed. Existing cases of the same name are overwritten.
        num_cases: How many cases.
        shape: The volume shape (:data:`BRATS_SHAPE` or :data:`QUICK_SHAPE`, say).
        seed: The seed; case ``i`` is generated from ``(seed, i)``.
        validation: Write ``BraTS20_Validation_XXX`` cases without segmentation.
        progress: Show a progress bar.

    Returns:
        The case folders, in order.
    """
    if not isinstance(num_cases, int) or num_cases < 1:
        raise ConfigError(f"num_cases must be a positive integer, got {num_cases!r}.")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    kind = "Validation" if validation else "Training"
    image_saver = SaveImage(dtype="int16")
    label_saver = SaveImage(dtype="uint8")
    meta: dict[str, Any] = {"affine": _AFFINE}
    folders, grades = [], []
    indices = range(num_cases)
    if progress:
        from rich.progress import track

        indices = track(indices, description=f"Generating {num_cases} BraTS-like cases")
    for index in indices:
        case = f"BraTS20_{kind}_{index + 1:03d}"
        folder = root / case
        folder.mkdir(exist_ok=True)
        case_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
        image, label = generate_case(shape, case_seed)
        for channel, modality in enumerate(("flair", "t1", "t1ce", "t2")):
            image_saver(np.rint(image[..., channel]), folder / f"{case}_{modality}.nii.gz", meta)
        if not validation:
            label_saver(label, folder / f"{case}_seg.nii.gz", meta)
        grades.append((case, "HGG" if (label == 4).any() else "LGG"))
        folders.append(folder)
    mapping = root / ("name_mapping_validation_data.csv" if validation else "name_mapping.csv")
    with atomic_write(mapping, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["Grade", "BraTS_2020_subject_ID"])
        writer.writerows((grade, case) for case, grade in grades)
    return folders
