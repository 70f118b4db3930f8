"""Why unetseg does not report the notebook's Dice."""

from __future__ import annotations

import numpy as np
import pytest

from unetseg.metrics import evaluate_brats_case, pooled_soft_dice


def test_notebook_dice_rewards_an_all_background_prediction(tumour_labels):
    # A tumour of about 1.6 % of the voxels, as in a brain MRI volume.
    labels = np.pad(tumour_labels, [(16, 16), (16, 16), (12, 12)])
    # The notebook's setting: softmax over four one-hot classes, labels 0/1/2/3
    # (BraTS label 4 renamed 3), Dice pooled over every channel, background included.
    classes = np.searchsorted([0, 1, 2, 4], labels)
    truth = np.eye(4)[classes]
    all_background = np.zeros_like(truth)
    all_background[..., 0] = 1.0

    notebook_dice = pooled_soft_dice(truth, all_background)
    region_scores = evaluate_brats_case(np.zeros_like(labels), labels)

    tumour_fraction = np.count_nonzero(labels) / labels.size
    assert notebook_dice > 0.9
    assert notebook_dice == pytest.approx(1 - tumour_fraction, abs=1e-4)
    assert [region_scores[r]["dice"] for r in ("WT", "TC", "ET")] == [0.0, 0.0, 0.0]
