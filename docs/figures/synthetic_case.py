"""Draw docs/figures/synthetic_case.png: the anatomy a generated case imitates, and the case.

Left, the MNI152 template's T1 (the anatomy every case is built on); then one
generated 240 × 240 × 155 case: FLAIR, T1, T1ce, T2 and its labels, on the axial
slice with the most tumour. Run from the repository root:
``python docs/figures/synthetic_case.py`` (needs the ``viz`` extra).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from unetseg.data import generate_case
from unetseg.data.synthetic import load_anatomy

image, label = generate_case((240, 240, 155), seed=7, enhancing=True)
z = int(np.argmax((label > 0).sum(axis=(0, 1))))
template = load_anatomy()["t1"]
figure, axes = plt.subplots(1, 6, figsize=(18, 3.6))
axes[0].imshow(template[:, :, template.shape[2] * z // 155].T, cmap="gray", origin="lower")
axes[0].set_title("MNI152 template T1 (the anatomy)")
for axis, channel, name in zip(axes[1:], range(4), ("FLAIR", "T1", "T1ce", "T2"), strict=False):
    axis.imshow(image[:, :, z, channel].T, cmap="gray", origin="lower")
    axis.set_title(f"generated {name}")
colours = ListedColormap(["black", "#e41a1c", "#4daf4a", "#377eb8", "#ffff33"])
shown = np.searchsorted([0, 1, 2, 3, 4], label[:, :, z])
axes[5].imshow(shown.T, cmap=colours, vmin=0, vmax=4, origin="lower", interpolation="nearest")
axes[5].set_title("labels: 1 red, 2 green, 4 yellow")
for axis in axes:
    axis.axis("off")
figure.tight_layout()
figure.savefig(Path(__file__).with_suffix(".png"), dpi=60)
