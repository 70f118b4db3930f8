"""The operation log and the table of inverses: one place for every invertible operation."""

from __future__ import annotations

import numpy as np
import pytest

from unetseg.errors import DataError
from unetseg.transforms import (
    INVERSES,
    Compose,
    RandFlipd,
    RandRotate90d,
    SpatialPadd,
    invert,
    meta_key,
    record_operation,
)


def test_the_built_in_operations_have_inverses():
    assert {"crop", "flip", "rot90", "resample"} <= set(INVERSES.names())


def test_a_new_invertible_transform_registers_its_inverse_in_one_place():
    @INVERSES.register("roll")
    def unroll(array, operation):
        return np.roll(array, -operation["shift"], axis=0)

    try:
        record = {"image": np.arange(5.0).reshape(5, 1)}
        record["image"] = np.roll(record["image"], 2, axis=0)
        record_operation(record, "image", {"kind": "roll", "shift": 2})
        restored = Compose([]).inverse(record)
        np.testing.assert_array_equal(restored["image"][:, 0], np.arange(5.0))
        assert restored[meta_key("image")]["applied"] == []
    finally:
        INVERSES.unregister("roll")


def test_an_operation_without_an_inverse_is_refused_when_recorded():
    with pytest.raises(DataError, match="no inverse is registered for it"):
        record_operation({}, "image", {"kind": "shear"})


def test_corrupt_metadata_names_the_unknown_operation():
    with pytest.raises(DataError, match=r"Unknown recorded operation 'shear'.*corrupt"):
        invert(np.zeros((2, 1)), {"applied": [{"kind": "shear"}]})


def test_recording_copies_the_metadata_of_the_input_record():
    meta = {"spacing": (1.0, 1.0)}
    record = {"image": np.zeros((2, 2, 1)), "image_meta": meta}
    out = SpatialPadd("image", spatial_size=4)(record)
    assert "applied" not in meta
    assert out["image_meta"]["applied"][0]["kind"] == "crop"


def test_pads_flips_and_turns_invert_to_the_input():
    image = np.random.default_rng(0).random((5, 6, 3, 2)).astype(np.float32)
    pipeline = Compose(
        [
            SpatialPadd("image", spatial_size=(8, 8, 4)),
            RandFlipd("image", prob=1.0),
            RandRotate90d("image", prob=1.0, spatial_axes=(0, 1)),
        ],
        seed=3,
    )
    out = pipeline({"image": image})
    assert [op["kind"] for op in out["image_meta"]["applied"]] == ["crop", "flip", "rot90"]
    np.testing.assert_array_equal(pipeline.inverse(out)["image"], image)
