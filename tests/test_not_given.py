"""NOT_GIVEN (llmdeck_nb/not_given.py): "left out" told apart from None, where None is a real
choice (no time limit, no budget). The cases a user hits are tested where the setting lives:
test_timeouts.py, test_budget.py, test_parameters.py."""

from __future__ import annotations

import copy
import inspect
import pickle

import pytest

from llmdeck_nb.cli import build_parser
from llmdeck_nb.engine.session import Session
from llmdeck_nb.not_given import NOT_GIVEN, NotGiven, given_or


def test_help_shows_not_given_as_the_default() -> None:
    signature = inspect.signature(Session.acomplete)
    assert signature.parameters["timeout"].default is NOT_GIVEN
    assert "timeout: 'float | NotGiven | None' = NOT_GIVEN" in str(signature)


def test_not_given_stays_itself_through_copies_and_pickles() -> None:
    assert isinstance(NOT_GIVEN, NotGiven)
    assert copy.deepcopy(NOT_GIVEN) is NOT_GIVEN
    assert pickle.loads(pickle.dumps(NOT_GIVEN)) is NOT_GIVEN


def test_a_truth_test_on_not_given_fails_loudly() -> None:
    # `value or default` is the very bug NOT_GIVEN exists for: it must not pass silently
    with pytest.raises(TypeError, match="isinstance"):
        bool(NOT_GIVEN)


def test_given_or_keeps_none_when_it_was_given() -> None:
    assert given_or(None, 60.0) is None
    assert given_or(NOT_GIVEN, 60.0) == 60.0
    assert given_or(5.0, 60.0) == 5.0


@pytest.mark.parametrize(("words", "timeout"), [([], 60.0), (["--timeout", "none"], None),
                                                (["--timeout", "Off"], None),
                                                (["--timeout", "2.5"], 2.5)])
def test_llmdeck_serve_timeout_takes_seconds_or_none(words: list[str],
                                                     timeout: float | None) -> None:
    assert build_parser().parse_args(["serve", *words]).timeout == timeout


@pytest.mark.parametrize("bad", ["soon", "0", "-1", "inf"])
def test_llmdeck_serve_refuses_a_bad_timeout(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["serve", "--timeout", bad])
    assert f"greater than 0, or none for no limit, not {bad!r}" in capsys.readouterr().err
