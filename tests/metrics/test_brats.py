from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from unetseg.errors import DataError
from unetseg.metrics import BRATS_EMPTY_HD95, as_regions, evaluate_brats, evaluate_brats_case
from unetseg.regions import labels_to_regions


def without_enhancing(labels):
    labels = labels.copy()
    labels[labels == 4] = 1
    return labels


def test_perfect_prediction(tumour_labels):
    scores = evaluate_brats_case(tumour_labels, tumour_labels)
    for region in ("WT", "TC", "ET"):
        assert scores[region]["dice"] == 1.0
        assert scores[region]["hd95"] == 0.0
        assert scores[region]["sensitivity"] == 1.0
        assert scores[region]["specificity"] == 1.0


def test_both_empty_enhancing_tumour_scores_one_and_zero(tumour_labels):
    labels = without_enhancing(tumour_labels)
    scores = evaluate_brats_case(labels, labels)
    assert scores["ET"]["dice"] == 1.0
    assert scores["ET"]["hd95"] == 0.0
    assert math.isnan(scores["ET"]["sensitivity"])


def test_one_stray_enhancing_voxel_costs_dice_zero_and_hd95_373(tumour_labels):
    truth = without_enhancing(tumour_labels)
    prediction = truth.copy()
    prediction[0, 0, 0] = 4
    scores = evaluate_brats_case(prediction, truth)
    assert scores["ET"]["dice"] == 0.0
    assert scores["ET"]["hd95"] == BRATS_EMPTY_HD95 == 373.13
    scores = evaluate_brats_case(truth, tumour_labels)  # missed all enhancing tumour
    assert scores["ET"]["dice"] == 0.0
    assert scores["ET"]["hd95"] == 373.13


def test_empty_prediction_scores_zero_on_every_region(tumour_labels):
    scores = evaluate_brats_case(np.zeros_like(tumour_labels), tumour_labels)
    assert [scores[r]["dice"] for r in ("WT", "TC", "ET")] == [0.0, 0.0, 0.0]


def test_label_maps_regions_and_dicts_give_the_same_scores(tumour_labels):
    prediction = np.roll(tumour_labels, 2, axis=0)
    regions = labels_to_regions(prediction)
    as_dict = {key: regions[..., i] for i, key in enumerate(("WT", "TC", "ET"))}
    expected = evaluate_brats_case(prediction, tumour_labels)
    assert evaluate_brats_case(regions, tumour_labels) == expected
    assert evaluate_brats_case(as_dict, tumour_labels[..., None]) == expected
    assert expected["WT"]["hd95"] == pytest.approx(2.0)
    assert 0 < expected["WT"]["dice"] < 1


def test_spacing_scales_hd95(tumour_labels):
    prediction = np.roll(tumour_labels, 2, axis=0)
    scores = evaluate_brats_case(prediction, tumour_labels, spacing=(1.5, 1.0, 1.0))
    assert scores["WT"]["hd95"] == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("segmentation", "message"),
    [
        (np.full((4, 4, 4), 3, np.uint8), r"labels \[3\]"),
        (np.full((4, 4, 4), 0.5), "whole-number labels"),
        (np.zeros((4, 4)), "shape \\(4, 4\\)"),
        (np.full((4, 4, 4, 3), 2), "not binary"),
        ({"WT": np.zeros((4, 4, 4))}, r"lacks the regions \['TC', 'ET'\]"),
    ],
)
def test_malformed_input_names_the_case(segmentation, message):
    with pytest.raises(DataError, match=message) as info:
        evaluate_brats_case(segmentation, np.zeros((4, 4, 4), np.uint8), case_id="BraTS20_001")
    assert "BraTS20_001" in str(info.value)


def test_shape_mismatch_is_refused():
    with pytest.raises(DataError, match="has shape \\(4, 4, 4\\) but its ground truth"):
        evaluate_brats_case(np.zeros((4, 4, 4)), np.zeros((4, 4, 5)), case_id="x")


def test_as_regions_of_labels():
    regions = as_regions(np.array([0, 1, 2, 4]).reshape(1, 1, 4))
    assert regions.shape == (1, 1, 4, 3)
    assert regions.dtype == bool


def test_batch_rows_summary_and_csv(tumour_labels, tmp_path):
    shifted = np.roll(tumour_labels, 1, axis=1)
    no_et = without_enhancing(tumour_labels)
    evaluation = evaluate_brats(
        [
            ("case_a", tumour_labels, tumour_labels),
            ("case_b", shifted, tumour_labels),
            ("case_c", no_et, no_et),
        ]
    )
    assert evaluation.case_ids == ["case_a", "case_b", "case_c"]
    assert len(evaluation.rows) == 9
    wt_dice = evaluation.values("WT", "dice")
    b_dice = evaluate_brats_case(shifted, tumour_labels)["WT"]["dice"]
    np.testing.assert_allclose(wt_dice, [1.0, b_dice, 1.0])

    summary = {(row["region"], row["metric"]): row for row in evaluation.summary()}
    wt = summary[("WT", "dice")]
    assert wt["mean"] == pytest.approx(np.mean(wt_dice))
    assert wt["std"] == pytest.approx(np.std(wt_dice))
    assert wt["median"] == pytest.approx(1.0)
    assert wt["q25"] == pytest.approx(np.percentile(wt_dice, 25))
    assert wt["q75"] == pytest.approx(1.0)
    assert summary[("ET", "sensitivity")]["count"] == 2  # case_c has no ET: NaN left out
    assert evaluation.mean("WT") == pytest.approx(np.mean(wt_dice))

    evaluation.to_csv(tmp_path / "metrics.csv")
    with open(tmp_path / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["case", "region", "dice", "hd95", "sensitivity", "specificity"]
    assert rows[0]["case"] == "case_a"
    assert float(rows[3]["dice"]) == pytest.approx(b_dice, rel=1e-5)
    assert rows[8]["sensitivity"] == "nan"

    evaluation.summary_to_csv(tmp_path / "summary.csv")
    header = (tmp_path / "summary.csv").read_text().splitlines()[0]
    assert header == "region,metric,mean,std,median,q25,q75,count"
    text = evaluation.format_summary()
    assert "3 cases" in text
    assert text.splitlines()[1].startswith("WT")


def test_the_summary_table_keeps_wide_values_apart(tumour_labels):
    # A stray blob far from the tumour gives HD95 (and its std) of tens of mm.
    truth = np.pad(tumour_labels, ((0, 48), (0, 0), (0, 0)))
    stray = truth.copy()
    stray[64:78, 8:22, 6:18] = 2
    evaluation = evaluate_brats([("near", truth, truth), ("far", stray, truth)])
    hd95 = next(r for r in evaluation.summary() if (r["region"], r["metric"]) == ("WT", "hd95"))
    assert hd95["mean"] >= 10
    assert hd95["std"] >= 10
    lines = evaluation.format_summary().splitlines()
    widths = {len(line) for line in lines[:4]}
    assert len(widths) == 1  # header and rows line up
    for line in lines[1:4]:
        fields = [field for field in line.split("  ") if field.strip()]
        assert len(fields) == 5, line  # region and four metrics, each apart


def test_repeated_case_id_is_refused(tumour_labels):
    with pytest.raises(DataError, match="'a' appears twice"):
        evaluate_brats([("a", tumour_labels, tumour_labels)] * 2)


def test_csv_is_not_half_written_when_the_folder_is_missing(tmp_path):
    evaluation = evaluate_brats([])
    with pytest.raises(FileNotFoundError, match="does not exist"):
        evaluation.to_csv(tmp_path / "missing" / "metrics.csv")
