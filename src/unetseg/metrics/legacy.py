"""The "Dice" of the notebook unetseg grew from — kept to show why it misleads.

The notebook trained a 2D U-Net on BraTS 2020 with a softmax over four classes
(background, necrotic core, oedema, enhancing tumour) and reported "Dice 0.9856":
a *soft* Dice pooled over all voxels of all four one-hot channels, background
included. Background is most of every slice, so a model that predicts background
everywhere scores ``1 − T/N`` (``T`` tumour voxels out of ``N``): above 0.9 on
almost any BraTS slice. The BraTS region Dice of that empty prediction is 0.

Use :func:`pooled_soft_dice` only to compare with numbers reported that way (the
``seed_2d`` recipe prints both side by side); report
:func:`~unetseg.metrics.evaluate_brats_case` numbers.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from unetseg.errors import DataError

__all__ = ["pooled_soft_dice"]


def pooled_soft_dice(y_true: Any, y_pred: Any, smooth: float = 1.0) -> float:
    """The notebook's Dice: ``(2·Σ y·ŷ + smooth) / (Σ y + Σ ŷ + smooth)`` over everything.

    Args:
        y_true: One-hot truth, every channel (background included).
        y_pred: Probabilities of the same shape.
        smooth: The notebook's smoothing term.

    Returns:
        The pooled soft Dice.

    Example:
        >>> import numpy as np
        >>> truth = np.zeros((100, 4)); truth[:, 0] = 1; truth[:5, 0] = 0; truth[:5, 2] = 1
        >>> all_background = np.zeros((100, 4)); all_background[:, 0] = 1
        >>> round(pooled_soft_dice(truth, all_background), 3)  # 5 % tumour, nothing found
        0.95
    """
    y_true = np.asarray(y_true, dtype=np.float64)
    y_pred = np.asarray(y_pred, dtype=np.float64)
    if y_true.shape != y_pred.shape:
        raise DataError(
            f"Truth shape {y_true.shape} does not match prediction shape {y_pred.shape}."
        )
    intersection = float(np.sum(y_true * y_pred))
    return (2.0 * intersection + smooth) / (float(np.sum(y_true) + np.sum(y_pred)) + smooth)
