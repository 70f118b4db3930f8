"""Draw docs/figures/synthetic_case.png: one generated BraTS-like case, four modalities and labels.

Run from the repository root: ``python docs/figures/synthetic_case.py`` (needs the
``viz`` extra).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import ListedColormap

from unetseg.data import generate_case

image, label = generate_case((240, 240, 155), seed=0, enhancing=True)
z = int(np.argmax((label > 0).sum(axis=(0, 1))))
figure, axes = plt.subplots(1, 5, figsize=(15, 3.4))
for axis, channel, name in zip(axes, range(4), ("FLAIR", "T1", "T1ce", "T2"), strict=False):
    axis.imshow(image[:, :, z, channel].T, cmap="gray", origin="lower")
    axis.set_title(name)
colours = ListedColormap(["black", "#e41a1c", "#4daf4a", "#377eb8", "#ffff33"])
shown = np.searchsorted([0, 1, 2, 3, 4], label[:, :, z])
axes[4].imshow(shown.T, cmap=colours, vmin=0, vmax=4, origin="lower", interpolation="nearest")
axes[4].set_title("labels: 1 red, 2 green, 4 yellow")
for axis in axes:
    axis.axis("off")
figure.tight_layout()
figure.savefig(Path(__file__).with_suffix(".png"), dpi=60)
