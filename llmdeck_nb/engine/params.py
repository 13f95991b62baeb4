"""The check every call's generation parameters pass when the call is built (before sending).

Each known parameter has a type and a range; every value must be plain JSON with finite
numbers (``1e400`` is ``inf``, which would go out as ``Infinity``, not JSON). A bad value is
an :class:`~llmdeck_nb.errors.InvalidParameterError` naming the parameter, what it got and
what is allowed; nothing is sent and nothing is logged as sent.
"""

from __future__ import annotations

import math
from argparse import ArgumentTypeError
from collections.abc import Mapping
from numbers import Integral, Real
from typing import Any

from llmdeck_nb.errors import InvalidParameterError

# name -> (kind, low, high); kind: "number", "int", "bool", "str", "stop"
_RULES: dict[str, tuple[str, float | None, float | None]] = {
    "temperature": ("number", 0, 2),
    "top_p": ("number", 0, 1),
    "top_k": ("int", 1, None),
    "min_p": ("number", 0, 1),
    "max_tokens": ("int", 1, None),
    "max_completion_tokens": ("int", 1, None),
    "max_output_tokens": ("int", 1, None),
    "seed": ("int", None, None),
    "n": ("int", 1, 128),
    "presence_penalty": ("number", -2, 2),
    "frequency_penalty": ("number", -2, 2),
    "repetition_penalty": ("number", 0, None),
    "top_logprobs": ("int", 0, 20),
    "logprobs": ("bool", None, None),
    "reasoning_effort": ("str", None, None),
    "stop": ("stop", None, None),
}


def _allowed(kind: str, low: float | None, high: float | None) -> str:
    what = {"number": "a number", "int": "a whole number", "bool": "true or false",
            "str": "a string", "stop": "a string or a list of strings"}[kind]
    if low is not None and high is not None:
        return f"{what} from {low:g} to {high:g}"
    if low is not None:
        return f"{what} of at least {low:g}"
    return what


def _fits(kind: str, value: object, low: float | None, high: float | None) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "str":
        return isinstance(value, str)
    if kind == "stop":
        return isinstance(value, str) or (
            isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value))
    if isinstance(value, bool) or not isinstance(value, Integral if kind == "int" else Real):
        return False
    number = float(value)
    if not math.isfinite(number):
        return False
    return (low is None or number >= low) and (high is None or number <= high)


def _plain_json(value: object) -> bool:
    if value is None or isinstance(value, (str, bool, Integral)):
        return True
    if isinstance(value, Real):
        return math.isfinite(value)
    if isinstance(value, (list, tuple)):
        return all(_plain_json(v) for v in value)
    if isinstance(value, Mapping):
        return all(isinstance(k, str) and _plain_json(v) for k, v in value.items())
    return False


def check_params(params: Mapping[str, Any]) -> None:
    """Raise InvalidParameterError for the first parameter that cannot be sent."""
    for name, value in params.items():
        if value is None:
            continue  # "not set"
        rule = _RULES.get(name)
        if rule is not None:
            kind, low, high = rule
            if not _fits(kind, value, low, high):
                raise InvalidParameterError(name, value, _allowed(kind, low, high))
        elif not _plain_json(value):
            raise InvalidParameterError(name, value, "plain JSON (strings, finite numbers, "
                                        "booleans, lists, tables)")


def check_timeout(timeout: object, where: str = "timeout") -> float | None:
    """A timeout in seconds: None (no limit), or a finite number > 0."""
    if timeout is None:
        return None
    if isinstance(timeout, bool) or not isinstance(timeout, Real) or not math.isfinite(timeout) \
            or timeout <= 0:
        raise InvalidParameterError(where, timeout, "a number of seconds greater than 0")
    return float(timeout)


#: what ``--timeout`` takes for "no limit" (a magic's, ``llmdeck serve``'s)
NO_LIMIT_WORDS = frozenset({"none", "off"})


def timeout_argument(text: str) -> float | None:
    """``--timeout S`` (argparse ``type=``): seconds, or ``none`` / ``off`` for no limit."""
    if text.strip().lower() in NO_LIMIT_WORDS:
        return None
    try:
        return check_timeout(float(text))
    except (ValueError, InvalidParameterError):
        raise ArgumentTypeError(f"give a number of seconds greater than 0, or none for no "
                                f"limit, not {text!r}") from None


__all__ = ["NO_LIMIT_WORDS", "check_params", "check_timeout", "timeout_argument"]
