"""Learning-rate schedules and optimiser defaults."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from unetseg.errors import ConfigError, UnknownNameError
from unetseg.training import PolyDecay, WarmupCosine, build_optimizer, build_schedule

pytestmark = pytest.mark.backends


def values(schedule, steps):
    return np.array([float(keras.ops.convert_to_numpy(schedule(s))) for s in steps])


def test_poly_decay_is_nnunets_formula():
    schedule = PolyDecay(1e-2, total_steps=1000)
    steps = np.array([0, 1, 250, 500, 999, 1000, 1200])
    expected = 1e-2 * (1 - np.minimum(steps / 1000, 1)) ** 0.9
    np.testing.assert_allclose(values(schedule, steps), expected, rtol=1e-5, atol=1e-9)


def test_warmup_cosine_rises_linearly_then_decays_to_the_final_rate():
    schedule = WarmupCosine(1e-3, total_steps=100, warmup_steps=20, final_learning_rate=1e-5)
    rates = values(schedule, range(0, 121))
    np.testing.assert_allclose(rates[:21], np.linspace(0, 1e-3, 21), rtol=1e-5, atol=1e-10)
    assert (np.diff(rates[20:101]) <= 1e-12).all()
    np.testing.assert_allclose(rates[100:], 1e-5, rtol=1e-5)
    middle = 1e-5 + 0.5 * (1e-3 - 1e-5) * (1 + np.cos(np.pi * 0.5))
    assert rates[60] == pytest.approx(middle, rel=1e-5)


@pytest.mark.parametrize(
    "schedule", [PolyDecay(0.01, 50, power=2.0), WarmupCosine(0.1, 40, warmup_steps=4)]
)
def test_schedules_survive_saving(schedule):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(schedule))
    assert type(restored) is type(schedule)
    np.testing.assert_allclose(values(restored, range(0, 60, 7)), values(schedule, range(0, 60, 7)))


def test_optimizer_defaults():
    sgd = build_optimizer("sgd", 1e-2)
    assert isinstance(sgd, keras.optimizers.SGD)
    assert (sgd.momentum, sgd.nesterov, sgd.clipnorm) == (0.99, True, 12.0)
    adamw = build_optimizer("AdamW", 1e-3, clipnorm=None)
    assert isinstance(adamw, keras.optimizers.AdamW)
    assert adamw.weight_decay == pytest.approx(1e-2)
    assert adamw.clipnorm is None
    assert build_schedule("constant", 0.5, 10) == 0.5
    assert isinstance(build_schedule("cosine", 0.5, 10, warmup_steps=2), WarmupCosine)


def test_bad_settings_are_named():
    with pytest.raises(ConfigError, match="optimizer"):
        build_optimizer("sdg", 1e-2)
    with pytest.raises(ConfigError, match="clipnorm"):
        build_optimizer("sgd", 1e-2, clipnorm=0)
    with pytest.raises(ConfigError, match="total_steps"):
        PolyDecay(1e-2, total_steps=0)
    with pytest.raises(ConfigError, match="warmup_steps"):
        WarmupCosine(1e-2, total_steps=10, warmup_steps=10)
    with pytest.raises(ConfigError, match="warm-up"):
        build_schedule("poly", 1e-2, 10, warmup_steps=3)
    with pytest.raises(UnknownNameError, match="poly"):
        build_schedule("polly", 1e-2, 10)
