"""Typed configuration sections: reading, checking, writing, changing."""

from __future__ import annotations

import dataclasses
import json
from typing import ClassVar

import pytest

from unetseg.config import ConfigSection
from unetseg.errors import ConfigError
from unetseg.task import BRATS_REGIONS


@dataclasses.dataclass(frozen=True)
class Window(ConfigSection):
    prefix: ClassVar[str] = "window"
    size: tuple[int, ...] = (64, 64)
    overlap: float = 0.5
    name: str | None = None
    options: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self):
        self.check(0 <= self.overlap < 1, "overlap", "must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class Outer(ConfigSection):
    label: str
    window: Window = dataclasses.field(default_factory=Window)


def test_values_are_converted_and_round_trip():
    window = Window.from_dict({"size": [32, 16], "overlap": 0, "name": "none"})
    assert window == Window(size=(32, 16), overlap=0.0, name=None)
    assert isinstance(window.overlap, float)
    assert Window.from_dict(json.loads(json.dumps(window.to_dict()))) == window


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"sise": [1]}, r"unknown setting window\.sise\. Did you mean 'size'\?"),
        ({"size": 3}, r"window\.size must be a list of integers, got 3"),
        ({"size": [3, "a"]}, r"window\.size\[1\] must be an integer"),
        ({"overlap": True}, r"window\.overlap must be a number, got True"),
        ({"overlap": 1.0}, r"window\.overlap must be in \[0, 1\), got 1\.0"),
        ({"name": 3}, r"window\.name must be text, got 3"),
    ],
)
def test_mistakes_name_the_setting(values, message):
    with pytest.raises(ConfigError, match=message):
        Window.from_dict(values, where="w.toml")
    with pytest.raises(ConfigError, match=r"^w\.toml: "):
        Window.from_dict(values, where="w.toml")


def test_required_fields_and_nested_sections():
    with pytest.raises(ConfigError, match="label must be given"):
        Outer.from_dict({})
    outer = Outer.from_dict({"label": "a", "window": {"overlap": 0.25}})
    changed = outer.replace(window={"size": [8, 8]})  # only the keys given change
    assert changed.window == Window(size=(8, 8), overlap=0.25)
    assert outer.window.size == (64, 64)
    with pytest.raises(ConfigError, match=r"window\.overlap must be in"):
        outer.replace(window={"overlap": 2})


def test_the_trainer_configuration_round_trips_with_its_task():
    from unetseg.training import TrainerConfig

    config = TrainerConfig(task="brats_regions", loss_options={"batch": True}, patience=3)
    assert config.task is BRATS_REGIONS
    stored = json.loads(json.dumps(config.to_dict()))
    assert stored["task"]["channel_names"] == ["WT", "TC", "ET"]
    assert TrainerConfig.from_dict(stored) == config
    assert config.replace(patience="none").patience is None
