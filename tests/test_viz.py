"""The overlay and training-curve pictures are valid PNG files of the expected size."""

from __future__ import annotations

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
from matplotlib.image import imread  # noqa: E402

from unetseg.errors import DataError  # noqa: E402
from unetseg.regions import labels_to_regions  # noqa: E402
from unetseg.viz import overlay, training_curves  # noqa: E402

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_overlay_writes_a_png_with_truth_beside_prediction(tmp_path, tumour_labels):
    image = np.random.default_rng(0).normal(size=(*tumour_labels.shape, 4)).astype(np.float32)
    prediction = tumour_labels.copy()
    prediction[prediction == 4] = 1
    path = tmp_path / "overlay.png"
    figure = overlay(image, tumour_labels, labels_to_regions(prediction), path=path, title="c1")
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = imread(path)
    assert pixels.shape[1] > pixels.shape[0] > 100  # two panels side by side
    assert len(figure.axes) == 2
    # The default slice is the one with the most whole tumour.
    assert "slice 12" in figure._suptitle.get_text()
    assert [ax.get_title() for ax in figure.axes] == ["Truth", "Prediction"]


def test_overlay_errors(tmp_path, tumour_labels):
    image = np.zeros(tumour_labels.shape, np.float32)
    with pytest.raises(DataError, match="spatial shape"):
        overlay(image, tumour_labels[:-1])
    with pytest.raises(DataError, match="slice_index"):
        overlay(image, tumour_labels, slice_index=999)
    with pytest.raises(DataError, match="PNG"):
        overlay(image, tumour_labels, path=tmp_path / "a.jpg")
    assert not list(tmp_path.iterdir())


def test_training_curves_from_rows_and_from_a_csv(tmp_path):
    rows = [
        {"epoch": 1, "loss": 1.2, "val_dice_wt": 0.3, "val_dice": 0.2},
        {"epoch": 2, "loss": 0.8},
        {"epoch": 3, "loss": 0.5, "val_dice_wt": 0.8, "val_dice": 0.7},
    ]
    figure = training_curves(rows, path=tmp_path / "curves.png")
    assert (tmp_path / "curves.png").read_bytes()[:8] == PNG_SIGNATURE
    left, right = figure.axes
    assert [line.get_label() for line in left.lines] == ["loss"]
    assert sorted(line.get_label() for line in right.lines) == ["val_dice", "val_dice_wt"]
    csv = tmp_path / "history.csv"
    csv.write_text("epoch,loss,val_dice\n1,1.0,\n2,0.5,0.6\n")
    figure = training_curves(csv)
    assert len(figure.axes[1].lines[0].get_xdata()) == 1  # the empty cell is skipped
    with pytest.raises(DataError, match="loss"):
        training_curves([])
