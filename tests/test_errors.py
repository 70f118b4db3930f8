from __future__ import annotations

import pytest

from unetseg.errors import (
    ConfigError,
    DataError,
    MissingDependencyError,
    RegistrationError,
    UnetsegError,
    UnknownNameError,
    check_choice,
    did_you_mean,
)


@pytest.mark.parametrize(
    ("error", "builtin"),
    [
        (ConfigError, ValueError),
        (DataError, ValueError),
        (UnknownNameError, LookupError),
        (UnknownNameError, ConfigError),
        (RegistrationError, ConfigError),
        (MissingDependencyError, ImportError),
    ],
)
def test_errors_are_also_the_builtin_a_caller_expects(error, builtin):
    assert issubclass(error, UnetsegError)
    assert issubclass(error, builtin)


def test_unknown_name_error_prints_plain_message():
    # Unlike a KeyError, the message is not wrapped in quotes.
    assert str(UnknownNameError("Unknown loss 'x'.")) == "Unknown loss 'x'."


def test_did_you_mean_suggests_close_names():
    assert did_you_mean("dcie", ["dice", "focal"]) == " Did you mean 'dice'?"
    assert "'dice_ce'" in did_you_mean("dicece", ["dice_ce", "focal"])


def test_did_you_mean_falls_back_to_substrings():
    assert did_you_mean("tversky", ["focal_tversky_loss"]) == " Did you mean 'focal_tversky_loss'?"


def test_did_you_mean_is_empty_without_matches():
    assert did_you_mean("zzz", ["dice", "focal"]) == ""
    assert did_you_mean("dice", []) == ""


def test_check_choice_ignores_case_and_returns_canonical_spelling():
    assert check_choice("GAUSSIAN", ["constant", "gaussian"], what="mode") == "gaussian"


def test_check_choice_names_option_value_and_choices():
    with pytest.raises(UnknownNameError) as info:
        check_choice("gausian", ["constant", "gaussian"], what="blending mode")
    message = str(info.value)
    assert "blending mode 'gausian'" in message
    assert "Did you mean 'gaussian'?" in message
    assert "'constant', 'gaussian'" in message


def test_check_choice_rejects_non_strings():
    with pytest.raises(UnknownNameError, match="mode 3"):
        check_choice(3, ["constant"], what="mode")


def test_in_case_names_the_case_once_and_keeps_the_error_type():
    from unetseg.errors import ConfigError, DataError, in_case

    with pytest.raises(ConfigError, match=r"^Case 'c7': bad setting$"), in_case("c7"):
        raise ConfigError("bad setting")
    with pytest.raises(DataError, match=r"^Case 'c7': .*missing.nii"), in_case("c7"):
        open("/nonexistent/missing.nii")  # noqa: SIM115 - an OSError on purpose

    def nested():
        with in_case("c7"), in_case("c7"):
            raise DataError("inner")

    with pytest.raises(DataError, match=r"^Case 'c7': inner$"):  # named once
        nested()
    with pytest.raises(ZeroDivisionError) as raised, in_case("c7"):  # a bug stays a bug
        _ = 1 / 0
    assert "while processing case 'c7'" in raised.value.__notes__[0]
