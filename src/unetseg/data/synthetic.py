"""Generated BraTS-like cases on real brain anatomy, so everything runs without the dataset.

Each case has four co-registered, skull-stripped modalities (FLAIR, T1, T1ce, T2) and
a label map (0 background, 1 necrotic or non-enhancing core, 2 oedema, 4 enhancing
tumour), written in the official BraTS 2020 layout with a ``name_mapping.csv``.

**Anatomy.** The brain is the ICBM 2009a MNI152 template (the average of 152 adult
brains, as the nilearn package ships it; see ``data/anatomy/NOTICE.md``): grey matter
with the folded cortical ribbon, white matter, CSF with the ventricles and sulci, and
the template's own T1 contrast. Every case warps it by its own random rotation,
scaling and smooth elastic deformation, so no two brains are the same, and places it
in the BraTS field of view (240 × 240 × 155 mm, the arrays oriented as BraTS's).

**Contrasts.** FLAIR and T2 mix the tissue probabilities (partial volume at every
boundary) with a radiologist's relative intensities; T1 is the template's, and T1ce
adds the enhancement:

========================  =====  =====  =====  =====
tissue                    FLAIR   T1    T1ce    T2
========================  =====  =====  =====  =====
white matter              0.45   0.80   0.80   0.35
grey matter               0.60   0.55   0.55   0.55
CSF                       0.08   0.20   0.20   1.00
oedema (2)                0.95   0.55   0.55   0.85
necrotic core (1)         0.55   0.25   0.28   0.95
non-enhancing core (1)    0.85   0.45   0.48   0.80
enhancing rim (4)         0.80   0.55   1.10   0.65
========================  =====  =====  =====  =====

each jittered per case, with a smooth multiplicative bias field and noise per
modality and a random overall scale, as MRI has.

**Tumours** grow from a point in the white matter: a lumpy core, an enhancing rim
around a necrotic centre (about a fifth of the cases have no enhancing tumour and a
non-enhancing core instead, as low-grade BraTS cases often do), and oedema that
spreads along the white matter rather than into CSF. Whole-tumour radii are 18–40 mm.

The same seed gives the same case, bit for bit. A smaller ``shape`` covers the same
field of view with larger voxels (the affine says so), so a 96 × 96 × 64 case is a
brain at 2.5 mm.
"""

from __future__ import annotations

import csv
import functools
import importlib.resources
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from numpy.polynomial import legendre
from scipy import ndimage

from unetseg.errors import ConfigError
from unetseg.fileio import atomic_write, default_permissions
from unetseg.transforms.geometry import rotation_matrix
from unetseg.transforms.io import SaveImage

__all__ = [
    "BRATS_FIELD_OF_VIEW",
    "BRATS_SHAPE",
    "QUICK_SHAPE",
    "brats_affine",
    "generate_case",
    "load_anatomy",
    "write_synthetic_brats",
]

#: The shape of a real BraTS volume (1 mm voxels).
BRATS_SHAPE = (240, 240, 155)
#: A small shape for quick runs: the same field of view at about 2.5 mm.
QUICK_SHAPE = (96, 96, 64)
#: The extent of a BraTS volume in mm; generated cases of any shape cover it.
BRATS_FIELD_OF_VIEW = (240.0, 240.0, 155.0)

_MODALITIES = ("flair", "t1", "t1ce", "t2")
# Relative intensity per tissue and modality (FLAIR, T1, T1ce, T2), as in the table.
_CONTRAST = {
    "wm": (0.45, 0.80, 0.80, 0.35),
    "gm": (0.60, 0.55, 0.55, 0.55),
    "csf": (0.08, 0.20, 0.20, 1.00),
    "oedema": (0.95, 0.55, 0.55, 0.85),
    "necrotic": (0.55, 0.25, 0.28, 0.95),
    "nonenhancing": (0.85, 0.45, 0.48, 0.80),
    "enhancing": (0.80, 0.55, 1.10, 0.65),
}
_ANATOMY = ("unetseg.data", "anatomy/mni152_2009a.npz")


@functools.cache
def load_anatomy() -> dict[str, np.ndarray]:
    """The brain template: ``gm``, ``wm``, ``csf`` probabilities and ``t1`` in [0, 1].

    1 mm voxels, cropped to the brain, axes oriented as BraTS arrays (the template's
    left–right and anterior–posterior axes reversed). Read once per process.
    """
    package, name = _ANATOMY
    scales = {"gm": 31.0, "wm": 31.0, "csf": 31.0, "t1": 63.0}
    resource = importlib.resources.files(package) / name
    with importlib.resources.as_file(resource) as path, np.load(path, allow_pickle=False) as stored:
        return {
            key: np.ascontiguousarray(stored[key][::-1, ::-1, :], dtype=np.float32) / scale
            for key, scale in scales.items()
        }


def brats_affine(shape: tuple[int, int, int]) -> np.ndarray:
    """The affine of a generated case of ``shape``: BraTS's (LPS-flipped x and y), with
    voxels that make the volume span :data:`BRATS_FIELD_OF_VIEW`.

    Args:
        shape: The volume's size in voxels along x, y and z.

    Example:
        >>> brats_affine(BRATS_SHAPE)[:3].tolist()
        [[-1.0, 0.0, 0.0, 0.0], [0.0, -1.0, 0.0, 239.0], [0.0, 0.0, 1.0, 0.0]]
    """
    spacing = [f / n for f, n in zip(BRATS_FIELD_OF_VIEW, shape, strict=True)]
    affine = np.diag([-spacing[0], -spacing[1], spacing[2], 1.0])
    affine[1, 3] = (shape[1] - 1) * spacing[1]
    return affine


def _smooth_field(shape: tuple[int, ...], rng: np.random.Generator, strength: float) -> np.ndarray:
    """A smooth random field (low-order Legendre polynomials) of about ``strength``.

    The terms are sums of an (x, y) and a (y, z) plane, so the volume is built in two
    broadcast additions (float32).
    """
    axes = [np.linspace(-1, 1, n) for n in shape]
    values = [[legendre.legval(a, np.eye(3)[order]) for order in range(3)] for a in axes]
    c = rng.uniform(-strength, strength, 7)
    x, y, z = values
    plane_xy = (
        c[0] * np.multiply.outer(x[1], y[0])
        + c[1] * np.multiply.outer(x[0], y[1])
        + c[3] * np.multiply.outer(x[2], y[0])
        + c[4] * np.multiply.outer(x[0], y[2])
        + c[5] * np.multiply.outer(x[1], y[1])
    )
    plane_yz = c[2] * np.multiply.outer(y[0], z[1]) + c[6] * np.multiply.outer(y[1], z[1])
    return plane_xy.astype(np.float32)[:, :, None] + plane_yz.astype(np.float32)[None, :, :]


def _upsample(coarse: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Linear interpolation of a coarse grid spanning the whole volume, axis by axis."""
    result = coarse
    for axis, size in enumerate(shape):
        points = np.linspace(0.0, coarse.shape[axis] - 1.0, size)
        weights = np.stack(
            [
                np.interp(points, np.arange(coarse.shape[axis]), unit)
                for unit in np.eye(coarse.shape[axis])
            ],
            axis=1,
        )  # (size, coarse points)
        result = np.moveaxis(np.tensordot(weights, result, axes=([1], [axis])), 0, axis)
    return result.astype(np.float32)


def _warp(shape: tuple[int, int, int], spacing: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Template voxel coordinates ``(3, *shape)`` of every output voxel: the template
    centred in the field of view, randomly rotated, scaled, shifted and deformed."""
    anatomy = load_anatomy()
    template = np.array(anatomy["gm"].shape, dtype=np.float64)
    angles = np.radians(rng.uniform(-6.0, 6.0, 3))
    scale = rng.uniform(0.92, 1.08, 3) * rng.uniform(0.95, 1.05)
    inverse = np.linalg.inv(rotation_matrix(angles, 3) @ np.diag(scale))
    centre = (np.array(shape) - 1) / 2.0
    shift = rng.uniform(-5.0, 5.0, 3)  # mm
    # Output voxel → mm from the volume centre → template mm → template voxel (1 mm).
    grids = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij")
    millimetres = [(g - c) * s for g, c, s in zip(grids, centre, spacing, strict=True)]
    # A smooth elastic deformation: random displacements on a coarse grid, upsampled.
    coarse = rng.normal(0.0, 2.5, size=(3, 5, 5, 4))  # mm
    displacement = [_upsample(c, shape) for c in coarse]
    coordinates = np.empty((3, *shape), dtype=np.float32)
    for row in range(3):
        position = sum(
            inverse[row, col] * (millimetres[col] + displacement[col] - shift[col])
            for col in range(3)
        )
        coordinates[row] = position + (template[row] - 1) / 2.0
    return coordinates


def _tumour(
    tissues: dict[str, np.ndarray],
    spacing: np.ndarray,
    rng: np.random.Generator,
    enhancing: bool,
) -> np.ndarray:
    """The label map of a tumour grown from a white-matter point of this brain."""
    shape = tissues["wm"].shape
    brain = tissues["brain"]
    # The centre: a white-matter voxel at least 18 mm inside the brain (found on every
    # third voxel, which is plenty for choosing a point).
    step = 3
    coarse = (slice(None, None, step),) * 3
    depth = ndimage.distance_transform_edt(brain[coarse], sampling=spacing * step)
    candidates = np.flatnonzero((tissues["wm"][coarse] > 0.6) & (depth > 18.0))
    if not candidates.size:
        candidates = np.flatnonzero(depth >= depth.max() * 0.5)
    picked = np.unravel_index(candidates[rng.integers(candidates.size)], depth.shape)
    centre = np.array(picked) * step
    # At least a few voxels across, however coarse the grid.
    radius = max(rng.uniform(18.0, 40.0), 4.0 * float(spacing.max()))
    stretch = rng.uniform(0.8, 1.25, 3)
    grids = np.meshgrid(*(np.arange(n, dtype=np.float32) for n in shape), indexing="ij")
    squared = sum(
        ((g - c) * s / t) ** 2 for g, c, s, t in zip(grids, centre, spacing, stretch, strict=True)
    )
    distance = np.sqrt(squared) / radius + 0.08 * _smooth_field(shape, rng, 1.0)
    # Each boundary gets its own lumps (about a centimetre across), so the rim varies
    # in thickness and the oedema reaches out unevenly.
    lumps = [_lumps(shape, spacing, rng, size) for size in (12.0, 8.0, 6.0)]
    label = np.zeros(shape, dtype=np.uint8)
    # Oedema spreads along the white matter, not into CSF.
    matter = tissues["wm"] + 0.4 * tissues["gm"]
    reach = distance + 0.22 * lumps[0]
    oedema = ((reach < 1.0) & (matter > 0.35)) | (reach < 0.6)
    label[oedema & brain & (tissues["csf"] < 0.6)] = 2
    core = (distance + 0.12 * lumps[1] < rng.uniform(0.42, 0.58)) & brain
    if enhancing:
        label[core] = 4
        label[(distance + 0.1 * lumps[2] < rng.uniform(0.22, 0.36)) & brain] = 1
    else:
        label[core] = 1
    return label


def _lumps(
    shape: tuple[int, ...], spacing: np.ndarray, rng: np.random.Generator, size_mm: float
) -> np.ndarray:
    """Smooth random bumps about ``size_mm`` across, of unit standard deviation."""
    coarse_shape = [
        max(int(np.ceil(n * s / size_mm)) + 2, 2) for n, s in zip(shape, spacing, strict=True)
    ]
    noise = ndimage.gaussian_filter(rng.normal(size=coarse_shape), 0.7)
    return _upsample(noise / max(float(noise.std()), 1e-6), shape)


def generate_case(
    shape: tuple[int, int, int] = BRATS_SHAPE, seed: int = 0, *, enhancing: bool | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Generate one case in memory (see the module documentation).

    Args:
        shape: The volume shape; the volume always covers the BraTS field of view
            (:func:`~unetseg.data.brats_affine` gives its voxel size).
        seed: The case's seed.
        enhancing: Force an enhancing tumour (``True``) or none (``False``); ``None``
            decides at random (about four cases in five have one).

    Returns:
        ``(image, label)``: float32 ``(*shape, 4)`` in the order FLAIR, T1, T1ce, T2,
        scaled like MRI intensities (0 outside the brain), and uint8 labels ``shape``.

    Raises:
        ConfigError: If ``shape`` is not three sizes of at least 16.
    """
    if len(shape) != 3 or min(shape) < 16:
        raise ConfigError(f"shape must be three sizes of at least 16, got {shape!r}.")
    shape = tuple(int(n) for n in shape)
    rng = np.random.default_rng(seed)
    spacing = np.array([f / n for f, n in zip(BRATS_FIELD_OF_VIEW, shape, strict=True)])
    coordinates = _warp(shape, spacing, rng)
    # Smoothing first keeps voxels larger than 1 mm from aliasing the 1 mm template.
    sigma = max(float(spacing.min()) / 2.0 - 0.5, 0.0)
    tissues = {}
    for key, values in load_anatomy().items():
        source = ndimage.gaussian_filter(values, sigma) if sigma > 0 else values
        tissues[key] = ndimage.map_coordinates(source, coordinates, order=1, cval=0.0)
    del coordinates
    tissues["brain"] = (tissues["gm"] + tissues["wm"] + tissues["csf"]) > 0.5
    if enhancing is None:
        enhancing = bool(rng.random() < 0.8)
    label = _tumour(tissues, spacing, rng, enhancing)

    jitter = {t: np.array(c) * rng.uniform(0.92, 1.08, 4) for t, c in _CONTRAST.items()}
    normal = sum(tissues[t][..., None] * jitter[t] for t in ("wm", "gm", "csf"))
    white = tissues["wm"] > 0.9
    t1 = tissues["t1"] * (jitter["wm"][1] / max(float(tissues["t1"][white].mean()), 1e-3))
    normal[..., 1] = t1
    normal[..., 2] = t1 * (jitter["wm"][2] / jitter["wm"][1])
    image = normal.astype(np.float32)
    # Tumour tissue replaces the brain's, with soft (partial-volume) edges.
    core = "necrotic" if enhancing else "nonenhancing"
    for value, kind in ((2, "oedema"), (4, "enhancing"), (1, core)):
        weight = ndimage.gaussian_filter((label == value).astype(np.float32), 0.7)
        image += weight[..., None] * (jitter[kind].astype(np.float32) - image)

    brain = tissues["brain"] | (label > 0)
    for channel in range(4):
        bias = np.exp(_smooth_field(shape, rng, 0.12)).astype(np.float32)
        noise = rng.normal(0.0, 0.025, size=shape).astype(np.float32)
        values = (image[..., channel] + noise) * bias
        image[..., channel] = np.where(brain, np.clip(values, 0.01, None), 0.0)
    image *= np.float32(rng.uniform(800.0, 1200.0))
    return image, label


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

    Each case is written into a hidden temporary folder and moved into place when
    complete, so an interrupted run leaves no half-written case.

    Raises:
        ConfigError: For a number of cases below 1, a bad shape or a negative seed.
    """
    if not isinstance(num_cases, int) or num_cases < 1:
        raise ConfigError(f"num_cases must be a positive integer, got {num_cases!r}.")
    if len(shape) != 3 or min(shape) < 16:
        raise ConfigError(f"shape must be three sizes of at least 16, got {shape!r}.")
    if not isinstance(seed, int | np.integer) or seed < 0:
        raise ConfigError(f"seed must be an integer >= 0, got {seed!r}.")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    kind = "Validation" if validation else "Training"
    image_saver = SaveImage(dtype="int16")
    label_saver = SaveImage(dtype="uint8")
    meta: dict[str, Any] = {"affine": brats_affine(tuple(shape))}
    folders, grades = [], []
    indices = range(num_cases)
    if progress:
        from rich.progress import track

        indices = track(indices, description=f"Generating {num_cases} BraTS-like cases")
    for index in indices:
        case = f"BraTS20_{kind}_{index + 1:03d}"
        folder = root / case
        case_seed = int(np.random.SeedSequence([seed, index]).generate_state(1)[0])
        image, label = generate_case(shape, case_seed)
        partial = Path(tempfile.mkdtemp(prefix=f".{case}.", suffix=".partial", dir=root))
        try:
            for channel, modality in enumerate(_MODALITIES):
                path = partial / f"{case}_{modality}.nii.gz"
                image_saver(np.rint(image[..., channel]), path, meta)
            if not validation:
                label_saver(label, partial / f"{case}_seg.nii.gz", meta)
            default_permissions(partial, folder=True)
            if folder.exists():
                shutil.rmtree(folder)
            partial.rename(folder)
        finally:
            shutil.rmtree(partial, ignore_errors=True)
        grades.append((case, "HGG" if (label == 4).any() else "LGG"))
        folders.append(folder)
    mapping = root / ("name_mapping_validation_data.csv" if validation else "name_mapping.csv")
    with atomic_write(mapping, newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["Grade", "BraTS_2020_subject_ID"])
        writer.writerows((grade, case) for case, grade in grades)
    return folders
