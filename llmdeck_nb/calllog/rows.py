"""CallRecords -> INSERT rows of the calls table, every string redacted on the way.

Records are converted column by column (one list comprehension per column, no per-row
function calls): appending 100,000 records is dominated by SQLite, not by Python. Each
column's conversion follows its kind, taken from the dtype sets of
:mod:`llmdeck_nb.calllog.frame`, so a new column of a known kind needs no code here.

Redaction: the strings of the batch are tested for secrets together (distinct values
joined, one cheap test), then column by column; only a column that may hold one is
redacted value by value.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from itertools import chain
from operator import attrgetter
from typing import Any

from llmdeck_nb.calllog.frame import BOOL_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, TIME_COLUMNS
from llmdeck_nb.calllog.records import COLUMNS, ERROR_CHARS, PREVIEW_CHARS, CallRecord, truncate
from llmdeck_nb.redaction import REDACTED, looks_secret, may_hold_secret, redact, redact_value

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_ONE_US = timedelta(microseconds=1)

# Long texts are cut to this window before redaction (bounded cost), and to their final
# length after it, so a secret straddling the cut is still seen whole by redact().
_REDACTION_MARGIN = 512
_WINDOWS = {"prompt_preview": PREVIEW_CHARS, "response_preview": PREVIEW_CHARS,
            "error_message": ERROR_CHARS}

_params_dumps = json.JSONEncoder(sort_keys=True, ensure_ascii=False, default=str).encode

_fields = attrgetter(*COLUMNS)


def micros(value: datetime) -> int:
    """``started_at`` as integer microseconds since the epoch (naive = UTC)."""
    if not isinstance(value, datetime):
        raise TypeError(f"started_at must be a datetime, not {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return (value - _EPOCH) // _ONE_US


def params_json(params: Mapping[str, Any] | None) -> str:
    if not params:
        return "{}"
    clean = {
        str(key): REDACTED if looks_secret(str(key)) else redact_value(value)
        for key, value in params.items()
    }
    return _params_dumps(_finite(clean))


def _finite(value: Any) -> Any:
    """NaN and infinities as null: the column holds strict JSON whatever was passed."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def tags_text(tags: Any) -> str:
    if not tags:
        return ""
    if isinstance(tags, str):
        tags = tags.split(",")
    return ",".join(t for t in (str(tag).replace(",", ";").strip() for tag in tags) if t)


# --- one converter per kind of column --------------------------------------------------


def _times(values: Sequence[Any]) -> list[Any]:
    try:  # aware datetimes, the engine's case: one subtraction each
        return [(v - _EPOCH) // _ONE_US for v in values]
    except TypeError:  # naive datetimes, or not datetimes (micros says which)
        return [micros(v) for v in values]


def _int(value: Any) -> int | None:
    """An integer column; a value that is not a whole number is stored as NULL (a row is
    never lost to an odd parameter such as temperature="abc")."""
    if value is None or isinstance(value, int):
        return None if value is None else int(value)
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return int(number) if number.is_integer() else None


def _float(value: Any) -> float | None:
    """A real column; NaN, infinities and non-numbers are stored as NULL."""
    if value is None:
        return None
    try:
        value = float(value)
    except (TypeError, ValueError, OverflowError):
        return None
    return value if math.isfinite(value) else None


def _ints(values: Sequence[Any]) -> list[Any]:
    return [v if v is None or v.__class__ is int else _int(v) for v in values]


def _floats(values: Sequence[Any]) -> list[Any]:
    # v - v == 0.0 is false for NaN and infinities: those, and anything not a float, go slow
    return [v if v.__class__ is float and v - v == 0.0 else _float(v) for v in values]


def _bools(values: Sequence[Any]) -> list[Any]:
    return [1 if v else 0 for v in values]


def _texts(values: Sequence[Any]) -> list[Any]:
    return [v if v is None or v.__class__ is str else str(v) for v in values]


def _memoised(convert: Callable[[Any], str], key: Callable[[Any], Any]) -> Callable[[Sequence[Any]], list[str]]:
    """Per batch, convert each distinct value once (params and tags repeat call after call)."""

    def column(values: Sequence[Any]) -> list[str]:
        seen: dict[Any, str] = {}
        out = []
        for value in values:
            try:
                k = key(value)
                text = seen.get(k)
            except TypeError:  # unhashable (a list inside params): no memo
                k = text = None
            if text is None:
                text = convert(value)
                if k is not None:
                    seen[k] = text
            out.append(text)
        return out

    return column


def _typed_items(value: Any) -> Any:
    # types too: {"seed": True} and {"seed": 1} are equal dicts but different JSON
    return None if not value else (tuple(value.items()), tuple(map(type, value.values())))


def _typed_tags(value: Any) -> Any:
    return value if isinstance(value, str) or not value else (tuple(value), tuple(map(type, value)))


def _window(limit: int) -> Callable[[Sequence[Any]], list[Any]]:
    cut = limit + _REDACTION_MARGIN

    def column(values: Sequence[Any]) -> list[Any]:
        return [None if v is None else (v if v.__class__ is str else str(v))[:cut] for v in values]

    return column


def _converter(name: str) -> Callable[[Sequence[Any]], list[Any]]:
    if name in TIME_COLUMNS:
        return _times
    if name in INT_COLUMNS:
        return _ints
    if name in FLOAT_COLUMNS:
        return _floats
    if name in BOOL_COLUMNS:
        return _bools
    if name == "params":
        return _memoised(params_json, _typed_items)
    if name == "tags":
        return _memoised(tags_text, _typed_tags)
    if name in _WINDOWS:
        return _window(_WINDOWS[name])
    return _texts


_CONVERTERS = [_converter(name) for name in COLUMNS]
_TEXT_INDEXES = [i for i, name in enumerate(COLUMNS)
                 if name not in TIME_COLUMNS | INT_COLUMNS | FLOAT_COLUMNS | BOOL_COLUMNS]
_WINDOW_INDEXES = [(COLUMNS.index(name), limit) for name, limit in _WINDOWS.items()]


def _may_hold_secret(columns: list[list[Any]]) -> bool:
    return may_hold_secret("\0".join(filter(None, chain.from_iterable(columns))))


def rows(records: Sequence[CallRecord]) -> list[tuple[Any, ...]]:
    """``records`` as INSERT rows in :data:`COLUMNS` order, every string redacted."""
    if not records:
        return []
    columns = [convert(values) for convert, values in zip(_CONVERTERS, zip(*map(_fields, records)))]
    # Every string of a call row passes here (conversation turns: conversations.py). One
    # test for all the strings; then one per column; then value by value.
    if _may_hold_secret([columns[i] for i in _TEXT_INDEXES]):
        for index in _TEXT_INDEXES:
            if _may_hold_secret([columns[index]]):
                columns[index] = [redact(v) if v else v for v in columns[index]]
    for index, limit in _WINDOW_INDEXES:
        columns[index] = [v if v is None or len(v) <= limit else truncate(v, limit)
                          for v in columns[index]]
    return list(zip(*columns))


__all__ = ["micros", "params_json", "rows", "tags_text"]
