"""The task description: what outputs mean, and everything derived from it."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from unetseg.errors import ConfigError, DataError, UnknownNameError
from unetseg.regions import labels_to_regions, regions_to_labels
from unetseg.registries import TASKS
from unetseg.task import BRATS_CLASSES, BRATS_REGIONS, Task, resolve_task

brats_maps = arrays(np.uint8, (5, 4, 3), elements=st.sampled_from([0, 1, 2, 4]))


def test_the_brats_tasks_are_registered():
    assert {"brats_regions", "brats_classes"} <= set(TASKS.names())
    assert resolve_task("brats_regions") is BRATS_REGIONS
    assert (BRATS_REGIONS.activation, BRATS_CLASSES.activation) == ("sigmoid", "softmax")
    assert BRATS_REGIONS.scored_names == ("WT", "TC", "ET")
    assert BRATS_CLASSES.scored_names == ("NCR", "ED", "ET")
    assert BRATS_CLASSES.out_channels == 4


@given(brats_maps)
def test_brats_regions_encode_and_decode_as_the_region_functions(label_map):
    encoded = BRATS_REGIONS.encode(label_map)
    np.testing.assert_array_equal(encoded, labels_to_regions(label_map))
    np.testing.assert_array_equal(BRATS_REGIONS.decode(encoded), regions_to_labels(encoded))
    np.testing.assert_array_equal(BRATS_REGIONS.decode(encoded), label_map)


@given(brats_maps)
def test_brats_classes_round_trip_through_one_hot(label_map):
    one_hot = BRATS_CLASSES.encode(label_map)
    assert one_hot.shape == (*label_map.shape, 4)
    assert (one_hot.sum(axis=-1) == 1).all()
    np.testing.assert_array_equal(BRATS_CLASSES.decode(one_hot), label_map)


def test_masks_of_the_scored_channels():
    probabilities = np.array([[0.1, 0.7, 0.1, 0.1], [0.1, 0.1, 0.2, 0.6]])
    ncr, _, et = BRATS_CLASSES.masks(probabilities)
    assert ncr.tolist() == [True, False]
    assert et.tolist() == [False, True]
    wt, tc, et = BRATS_REGIONS.masks(np.array([[0.9, 0.6, 0.2]]))
    assert (wt.tolist(), tc.tolist(), et.tolist()) == ([True], [True], [False])


def test_unknown_labels_name_the_task_and_the_values():
    with pytest.raises(DataError, match=r"labels \[3\].*'brats_regions'"):
        BRATS_REGIONS.encode(np.array([0, 3]), where="seg.nii.gz")
    with pytest.raises(DataError, match="whole-number"):
        BRATS_CLASSES.encode(np.array([0.5]))


def test_a_task_round_trips_through_json():
    task = Task.regions("liver", {"liver": [1, 2], "tumour": [2]})
    assert task.paint == (1, 2)
    assert Task.from_dict(task.to_dict()) == task
    assert resolve_task(task.to_dict()) == task


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: Task.classes("x", {"tumour": 1, "background": 0}), "background"),
        (lambda: Task.classes("x", {"background": 0}), "at least two"),
        (lambda: Task.regions("x", {"a": [0, 1]}), "background"),
        (lambda: Task.regions("x", {"a": [1], "b": [1]}), "paint"),
        (lambda: Task.regions("x", {"a": [1, 2]}, paint=[3]), "paint"),
        (lambda: Task("x", "labels", ("a",), ((1,),)), "kind"),
        (lambda: Task.regions("x", {"a": [1], "A": [2]}), "repeat"),
        (lambda: Task.from_dict({"name": "x"}), "lacks"),
        (lambda: resolve_task(3), "a Task, a name"),
    ],
)
def test_bad_descriptions(factory, message):
    with pytest.raises(ConfigError, match=message):
        factory()


def test_unknown_task_names_suggest_close_ones():
    with pytest.raises(UnknownNameError, match="brats_regions"):
        resolve_task("brats_region")
