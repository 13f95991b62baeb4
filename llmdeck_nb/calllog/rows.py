"""CallRecords -> INSERT rows of the calls table, every string redacted on the way.

Records are converted column by column, and a column whose values already have the
column's type (the engine's case) is checked as a whole (the set of its types, a sum, a
maximum length) instead of value by value. Each column's conversion follows its kind,
taken from the dtype sets of :mod:`llmdeck_nb.calllog.frame`, so a new column of a known
kind needs no code here. Missing values are bound as NaN (see :data:`NULL`).

A single record (``append``, once per call) goes value by value instead (:func:`row`):
for one row that is cheaper than column by column, and it gives the same row.

Redaction: the distinct strings of each text column are tested for secrets in one scan
(:func:`llmdeck_nb.redaction.suspects`), and only the strings it points at are redacted;
a single row's strings are tested joined, and redacted one by one only if that finds any.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta, timezone
from itertools import repeat
from operator import attrgetter, contains, floordiv, itemgetter, sub
from typing import Any

from llmdeck_nb.calllog.frame import BOOL_COLUMNS, FLOAT_COLUMNS, INT_COLUMNS, TIME_COLUMNS
from llmdeck_nb.calllog.records import (
    COLUMNS,
    ELLIPSIS,
    ERROR_CHARS,
    PREVIEW_CHARS,
    CallRecord,
    truncate,
)
from llmdeck_nb.redaction import (
    REDACTED,
    looks_secret,
    may_hold_secret,
    redact,
    redact_value,
    registry_version,
    suspects,
)

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
#
# Each takes a column's values and the set of their types, and checks the whole column at
# once where it can (a set of types, a sum, a maximum length, all computed in C), so the
# common case costs no Python work per value.

#: How a missing number is bound: NaN, which SQLite stores as NULL. The sqlite3 module binds
#: a float as it is, but None only after failing to find an adapter for it (~0.7 us each,
#: half of append_many's SQLite time on a typical batch, where a third of the values are None).
NULL = float("nan")
_NONE = type(None)
_INT_KINDS = frozenset({int, _NONE})
_FLOAT_KINDS = frozenset({float, _NONE})
_TEXT_KINDS = frozenset({str, _NONE})
_ONLY_NONE = {_NONE}

Kinds = set[type] | frozenset[type]
Converter = Callable[[Sequence[Any], Kinds], Sequence[Any]]
Scalar = Callable[[Any], Any]


def _bound(values: Sequence[Any], kinds: Kinds) -> Sequence[Any]:
    """``values`` with None as :data:`NULL`."""
    return [NULL if v is None else v for v in values] if _NONE in kinds else values


def _times(values: Sequence[Any], kinds: Kinds) -> list[Any]:
    try:  # aware datetimes, the engine's case: one subtraction and one division each, in C
        return list(map(floordiv, map(sub, values, repeat(_EPOCH)), repeat(_ONE_US)))
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


def _ints(values: Sequence[Any], kinds: Kinds) -> Sequence[Any]:
    if kinds <= _INT_KINDS:
        return _bound(values, kinds)
    return [NULL if (number := _int(v)) is None else number for v in values]


def _floats(values: Sequence[Any], kinds: Kinds) -> Sequence[Any]:
    # a finite sum: no NaN or infinity among the values
    if kinds <= _FLOAT_KINDS and math.isfinite(sum(filter(None, values))):
        return _bound(values, kinds)
    return [NULL if (number := _float(v)) is None else number for v in values]


def _bool(value: Any) -> int:
    return 1 if value else 0  # an int: a bool is bound through the adapter lookup


def _bools(values: Sequence[Any], kinds: Kinds) -> list[Any]:
    return [1 if v else 0 for v in values]


def _text(value: Any) -> str | None:
    return value if value is None or value.__class__ is str else str(value)


def _texts(values: Sequence[Any], kinds: Kinds) -> Sequence[Any]:
    """Text stays None when missing here: redaction looks at the texts first (see rows)."""
    if kinds <= _TEXT_KINDS:
        return values
    return [v if v is None or v.__class__ is str else str(v) for v in values]


def _longest(values: Sequence[Any]) -> int:
    return max(map(len, filter(None, values)), default=0)


def _memoised(convert: Callable[[Any], str], key: Callable[[Any], Any]) -> Converter:
    """Per batch, convert each distinct value once (params and tags repeat call after call)."""

    def column(values: Sequence[Any], kinds: Kinds) -> list[str]:
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
    return None if not value else (*value.items(), *map(type, value.values()))


def _typed_tags(value: Any) -> Any:
    return value if isinstance(value, str) or not value else (*value, *map(type, value))


def _window(limit: int) -> tuple[Converter, Scalar]:
    cut = limit + _REDACTION_MARGIN

    def column(values: Sequence[Any], kinds: Kinds) -> Sequence[Any]:
        texts = _texts(values, kinds)
        if _longest(texts) <= cut:
            return texts
        return [v if v is None else v[:cut] for v in texts]

    def scalar(value: Any) -> str | None:
        text = _text(value)
        return None if text is None else text[:cut]

    return column, scalar


def _converter(name: str) -> tuple[Converter, Scalar]:
    """How a column is converted: all its values at once, or one value (a single row)."""
    if name in TIME_COLUMNS:
        return _times, micros
    if name in INT_COLUMNS:
        return _ints, _int
    if name in FLOAT_COLUMNS:
        return _floats, _float
    if name in BOOL_COLUMNS:
        return _bools, _bool
    if name == "params":
        return _memoised(params_json, _typed_items), params_json
    if name == "tags":
        return _memoised(tags_text, _typed_tags), tags_text
    if name in _WINDOWS:
        return _window(_WINDOWS[name])
    return _texts, _text


_CONVERTERS, _SCALARS = zip(*map(_converter, COLUMNS))
_TEXT_INDEXES = [i for i, name in enumerate(COLUMNS)
                 if name not in TIME_COLUMNS | INT_COLUMNS | FLOAT_COLUMNS | BOOL_COLUMNS]
_WINDOW_INDEXES = [(COLUMNS.index(name), limit) for name, limit in _WINDOWS.items()]


def _redact_texts(columns: list[Sequence[Any]]) -> None:
    """Every string of a call row passes here (conversation turns: conversations.py). One
    scan of each text column's distinct values (:func:`suspects`: model names, hosts,
    params... repeat row after row); :func:`redact` on the values it points at."""
    for index in _TEXT_INDEXES:
        distinct = list(dict.fromkeys(columns[index]))
        found = suspects(distinct)
        if found:
            flagged = {distinct[i] for i in found}
            columns[index] = [redact(v) if v in flagged else v for v in columns[index]]


def _may_hold_secret(texts: Iterable[Any]) -> bool:
    return may_hold_secret("\0".join(filter(None, texts)))


def _memo(convert: Scalar, key: Callable[[Any], Any], *, redacting: bool = False) -> Scalar:
    """``convert`` remembering its last few results (a session's calls repeat their params
    and tags); keyed on the redaction registry too when ``convert`` redacts."""
    seen: dict[Any, Any] = {}

    def scalar(value: Any) -> Any:
        try:
            k = (registry_version(), key(value)) if redacting else key(value)
            text = seen.get(k)
        except TypeError:  # unhashable (a list inside params)
            return convert(value)
        if text is None:
            text = convert(value)
            if len(seen) >= _MEMO_SIZE:
                seen.clear()
            seen[k] = text
        return text

    return scalar


_MEMO_SIZE = 64
_TIME_INDEX = COLUMNS.index("started_at")
_BOOL_INDEXES = [COLUMNS.index(name) for name in sorted(BOOL_COLUMNS)]
_SPECIAL = {
    COLUMNS.index("params"): _memo(params_json, _typed_items, redacting=True),
    COLUMNS.index("tags"): _memo(tags_text, _typed_tags),
    **{COLUMNS.index(name): _window(limit)[1] for name, limit in _WINDOWS.items()},
}
# The other columns are bound as they are when their values have the column's type.
_PLAIN = [i for i, name in enumerate(COLUMNS)
          if i not in _SPECIAL and name not in TIME_COLUMNS | BOOL_COLUMNS]
_PLAIN_KINDS = tuple(_INT_KINDS if COLUMNS[i] in INT_COLUMNS else
                     _FLOAT_KINDS if COLUMNS[i] in FLOAT_COLUMNS else _TEXT_KINDS
                     for i in _PLAIN)
_plain_of = itemgetter(*_PLAIN)
_floats_of = itemgetter(*(i for i, name in enumerate(COLUMNS) if name in FLOAT_COLUMNS))
_texts_of = itemgetter(*_TEXT_INDEXES)
_clean_signatures: set[tuple[type, ...]] = set()  # types of plain values needing no conversion


def row(record: CallRecord) -> tuple[Any, ...]:
    """One record (a call's row), a few checks over the whole row instead of a conversion
    per value: the types of its plain values (a set of known-good type tuples), one sum for
    its floats, one secret test of its texts joined; the same row as :func:`batch` gives."""
    values = list(_fields(record))
    signature = tuple(map(type, _plain_of(values)))
    if signature not in _clean_signatures:
        if all(map(contains, _PLAIN_KINDS, signature)):
            if len(_clean_signatures) < _MEMO_SIZE:
                _clean_signatures.add(signature)
        else:
            for index in _PLAIN:
                values[index] = _SCALARS[index](values[index])
    if not math.isfinite(sum(filter(None, _floats_of(values)))):
        for index, name in enumerate(COLUMNS):
            if name in FLOAT_COLUMNS:
                values[index] = _float(values[index])
    started = values[_TIME_INDEX]
    try:  # an aware datetime, the engine's case
        values[_TIME_INDEX] = (started - _EPOCH) // _ONE_US
    except TypeError:
        values[_TIME_INDEX] = micros(started)
    for index in _BOOL_INDEXES:
        values[index] = 1 if values[index] else 0
    for index, scalar in _SPECIAL.items():
        values[index] = scalar(values[index])
    if _may_hold_secret(_texts_of(values)):
        for index in _TEXT_INDEXES:
            values[index] = redact(values[index]) if values[index] else values[index]
    for index, limit in _WINDOW_INDEXES:
        values[index] = truncate(values[index], limit)
    return tuple([NULL if value is None else value for value in values])


def rows(records: Sequence[CallRecord]) -> list[tuple[Any, ...]]:
    """``records`` as INSERT rows in :data:`COLUMNS` order, every string redacted."""
    return batch(records)[1]


def batch(
    records: Sequence[CallRecord], nullable: frozenset[str] = frozenset()
) -> tuple[tuple[str, ...], list[tuple[Any, ...]]]:
    """``records`` as INSERT rows, every string redacted, and the columns they fill (in
    :data:`COLUMNS` order): the ``nullable`` columns that no record has a value for are left
    out, to take their default (NULL). Binding them costs a fifth of a large insert."""
    if len(records) < 2:
        return COLUMNS, [row(record) for record in records]
    raw = list(zip(*map(_fields, records)))
    kinds = [set(map(type, values)) for values in raw]
    columns = [convert(values, k) for convert, values, k in zip(_CONVERTERS, raw, kinds)]
    _redact_texts(columns)
    for index, limit in _WINDOW_INDEXES:
        if _longest(columns[index]) > limit:  # truncate() on the texts longer than limit
            cut = limit - len(ELLIPSIS)
            columns[index] = [v if v is None or len(v) <= limit else v[:cut] + ELLIPSIS
                              for v in columns[index]]
    kept = [i for i, name in enumerate(COLUMNS) if name not in nullable or kinds[i] != _ONLY_NONE]
    for index in _TEXT_INDEXES:
        columns[index] = _bound(columns[index], kinds[index])
    if len(kept) == len(COLUMNS):
        return COLUMNS, list(zip(*columns))
    return tuple(COLUMNS[i] for i in kept), list(zip(*(columns[i] for i in kept)))


__all__ = ["NULL", "batch", "micros", "params_json", "row", "rows", "tags_text"]
