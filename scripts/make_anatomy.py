"""Derive unetseg's brain anatomy (src/unetseg/data/anatomy/mni152_2009a.npz) from MNI152.

The generated BraTS-like cases (``unetseg.data.generate_case``) are built on real
anatomy: the ICBM 2009a nonlinear symmetric MNI152 template (Fonov et al., 2009,
2011), which the nilearn wheel ships at 1 mm as a T1 image and grey- and white-matter
probability maps. This script reads those three files from a nilearn wheel (or an
installed nilearn), derives a CSF map (the brain's filled envelope less grey and white
matter), crops everything to the brain, quantises it and writes one compressed
``.npz`` of uint8 arrays (no pickle):

=========  ======================================  ================================
array      what                                    stored as
=========  ======================================  ================================
``gm``     grey-matter probability                 0–31 (probability × 31)
``wm``     white-matter probability                0–31
``csf``    CSF probability inside the brain        0–31
``t1``     the T1 template, skull-stripped         0–63
=========  ======================================  ================================

Axes are the template's (left → right, posterior → anterior, inferior → superior),
1 mm. Run from the repository root::

    pip download nilearn==0.14.1 --no-deps -d /tmp/nilearn
    python scripts/make_anatomy.py /tmp/nilearn/nilearn-0.14.1-py3-none-any.whl
"""

from __future__ import annotations

import argparse
import gzip
import io
import zipfile
from pathlib import Path

import nibabel as nib
import numpy as np
from scipy import ndimage

NAMES = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
TARGET = Path(__file__).resolve().parents[1] / "src/unetseg/data/anatomy/mni152_2009a.npz"


def read(source: Path, name: str) -> np.ndarray:
    """One template file from a nilearn wheel or an installed nilearn folder."""
    if source.suffix == ".whl":
        with zipfile.ZipFile(source) as wheel:
            data = wheel.read(f"nilearn/datasets/data/{name}")
        image = nib.Nifti1Image.from_bytes(gzip.decompress(data))
    else:
        image = nib.load(source / "datasets" / "data" / name)
    return np.asarray(image.dataobj, dtype=np.float32) / 255.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="a nilearn wheel or an installed nilearn folder")
    args = parser.parse_args()
    maps = {key: read(args.source, name) for key, name in NAMES.items()}
    tissue = maps["gm"] + maps["wm"]
    envelope = ndimage.binary_closing(tissue > 0.25, iterations=4)
    envelope = ndimage.binary_fill_holes(envelope)
    csf = np.clip(envelope - tissue, 0.0, 1.0)
    csf = ndimage.gaussian_filter(csf, 0.5) * envelope
    found = np.argwhere(envelope)
    low = np.maximum(found.min(axis=0) - 3, 0)
    high = np.minimum(found.max(axis=0) + 4, envelope.shape)
    box = tuple(slice(a, b) for a, b in zip(low, high, strict=True))
    t1 = np.where(envelope, maps["t1"], 0.0)
    arrays = {
        "gm": np.rint(maps["gm"][box] * 31),
        "wm": np.rint(maps["wm"][box] * 31),
        "csf": np.rint(csf[box] * 31),
        "t1": np.rint(t1[box] / max(float(t1.max()), 1e-6) * 63),
    }
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **{k: v.astype(np.uint8) for k, v in arrays.items()})
    TARGET.write_bytes(buffer.getvalue())
    print(f"{TARGET}: {arrays['gm'].shape} voxels, {len(buffer.getvalue()) // 1024} KiB")


if __name__ == "__main__":
    main()
