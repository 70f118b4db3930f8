from __future__ import annotations

import numpy as np
import pytest

from unetseg.errors import ConfigError, DataError
from unetseg.transforms import (
    Compose,
    MapTransform,
    NormalizeIntensityd,
    OneOf,
    RandGaussianNoised,
    RandScaleIntensityd,
    RandShiftIntensityd,
    Transform,
)


def record(seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    return {
        "id": "case_7",
        "image": rng.normal(size=(6, 5, 4, 2)).astype("float32"),
        "label": rng.integers(0, 2, size=(6, 5, 4, 1)).astype("float32"),
    }


def augmentation(seed: int | None) -> Compose:
    return Compose(
        [
            RandScaleIntensityd(["image", "label"], factors=0.3, prob=1.0),
            RandShiftIntensityd("image", offsets=0.5, prob=0.5),
            RandGaussianNoised("image", prob=1.0, std=0.2),
        ],
        seed=seed,
    )


def test_same_seed_gives_identical_output():
    a = augmentation(3)(record())
    b = augmentation(3)(record())
    np.testing.assert_array_equal(a["image"], b["image"])
    np.testing.assert_array_equal(a["label"], b["label"])


def test_different_seeds_give_different_draws():
    a = augmentation(3)(record())
    b = augmentation(4)(record())
    assert not np.array_equal(a["image"], b["image"])


def test_one_draw_moves_all_keys_together():
    transform = RandScaleIntensityd(["image", "label"], factors=0.5, prob=1.0)
    transform.set_random_state(0)
    data = record()
    data["label"] = data["image"].copy()
    out = transform(data)
    np.testing.assert_array_equal(out["image"], out["label"])
    assert not np.array_equal(out["image"], data["image"])


def test_input_record_is_not_modified():
    data = record()
    before = data["image"].copy()
    NormalizeIntensityd("image")(data)
    np.testing.assert_array_equal(data["image"], before)


def test_missing_key_names_key_and_transform():
    with pytest.raises(KeyError, match=r"NormalizeIntensityd: the record has no key 'flair'"):
        NormalizeIntensityd("flair")(record())
    out = NormalizeIntensityd(["image", "flair"], allow_missing_keys=True)(record())
    assert "flair" not in out


def test_compose_adds_transform_and_record_to_errors_without_hiding_them():
    data = record()
    data["image"][0, 0, 0, 0] = np.nan
    with pytest.raises(DataError) as info:
        Compose([NormalizeIntensityd("image")])(data)
    notes = "\n".join(getattr(info.value, "__notes__", []))
    assert "NormalizeIntensityd" in notes
    assert "'case_7'" in notes
    assert "NaN" in str(info.value)


class Split(Transform):
    """Return two records from one, as a patch sampler does."""

    def __call__(self, data):
        return [dict(data, part=0), dict(data, part=1)]


class Mark(Transform):
    def __call__(self, data):
        return dict(data, marked=True)


def test_compose_maps_later_steps_over_multiple_samples():
    out = Compose([Split(), Mark()])(record())
    assert isinstance(out, list)
    assert [(r["part"], r["marked"]) for r in out] == [(0, True), (1, True)]


def test_one_of_picks_by_weight_reproducibly():
    class Tag(Transform):
        def __init__(self, tag):
            self.tag = tag

        def __call__(self, data):
            return dict(data, tag=self.tag)

    choice = OneOf([Tag("a"), Tag("b")], weights=[3, 1])
    choice.set_random_state(0)
    tags = [choice({})["tag"] for _ in range(400)]
    assert 0.65 < tags.count("a") / 400 < 0.85
    again = OneOf([Tag("a"), Tag("b")], weights=[3, 1]).set_random_state(0)
    assert [again({})["tag"] for _ in range(400)] == tags


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: OneOf([]), "at least one"),
        (lambda: OneOf([Mark()], weights=[1, 2]), "weights"),
        (lambda: Compose([3]), "callable"),
        (lambda: NormalizeIntensityd([]), "at least one key"),
        (lambda: RandScaleIntensityd("image", factors=0.1, prob=2), "prob"),
    ],
)
def test_bad_construction_is_refused(factory, message):
    with pytest.raises(ConfigError, match=message):
        factory()


def test_map_transform_refuses_non_records():
    class Identityd(MapTransform):
        def __call__(self, data):
            return {k: data[k] for k in self.key_iterator(data)}

    with pytest.raises(TypeError, match="expects a record"):
        Identityd("image")(np.zeros(3))


def test_repr_is_readable():
    assert repr(NormalizeIntensityd("image", nonzero=True)).startswith(
        "NormalizeIntensityd(keys=['image'], NormalizeIntensity("
    )
