"""Columns -> pandas DataFrame, and the per-model summary.

pandas is imported inside the functions only (``import llmdeck_nb.calllog`` must stay
light). Conversions are vectorised, one per column: no per-row pandas work.

Dtypes of :meth:`CallLog.frame`:

* ``started_at``: ``datetime64[us, UTC]``
* ``attempt``, ``http_status``, ``input_tokens``, ``output_tokens``, ``max_tokens``,
  ``cached_tokens``, ``cache_write_tokens``, ``reasoning_tokens``: nullable ``Int64``
* ``latency_s``, ``ttft_s``, ``cost_usd``, ``saved_cost_usd``, ``provider_saved_usd``,
  ``temperature``: ``float64`` (NaN when unknown)
* ``cache_hit``, ``stream``: ``bool``
* ``profile``, ``backend``, ``provider``, ``model``, ``status``, ``cost_source``:
  ``category``
* every other text column, including ``params`` (JSON text, e.g. ``{"top_p": 0.9}``) and
  ``tags`` (comma-separated, e.g. ``"eval,fr"``): pandas' ``str`` dtype (NaN when
  missing). ``frame(parse_params=True)`` gives ``params`` as an object column of dicts.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from llmdeck_nb.calllog.records import COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

INT_COLUMNS = frozenset({"attempt", "http_status", "input_tokens", "output_tokens", "max_tokens",
                         "cached_tokens", "cache_write_tokens", "reasoning_tokens"})
FLOAT_COLUMNS = frozenset({"latency_s", "ttft_s", "cost_usd", "saved_cost_usd",
                           "provider_saved_usd", "temperature"})
BOOL_COLUMNS = frozenset({"cache_hit", "stream"})
CATEGORY_COLUMNS = frozenset({"profile", "backend", "provider", "model", "status", "cost_source"})
TIME_COLUMNS = frozenset({"started_at"})

SUMMARY_COLUMNS: tuple[str, ...] = (
    "backend",
    "model",
    "calls",
    "attempts",
    "errors",
    "cache_hits",
    "cache_hit_rate",
    "p50_latency_s",
    "p95_latency_s",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_usd",
    "saved_cost_usd",
    "provider_saved_usd",
)

#: The columns :func:`summarize` reads (a cold ``summary()`` selects only these).
SUMMARY_INPUTS: tuple[str, ...] = (
    "call_id",
    "backend",
    "model",
    "status",
    "cache_hit",
    "latency_s",
    "input_tokens",
    "output_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_usd",
    "saved_cost_usd",
    "provider_saved_usd",
)

_EXACT_IN_FLOAT = 2**53


def copy_on_write() -> bool:
    """True when pandas shares data between copies safely (always from pandas 3 on)."""
    import pandas as pd

    if int(pd.__version__.split(".")[0]) >= 3:
        return True
    return bool(getattr(pd.options.mode, "copy_on_write", False) is True)


def _int_array(values: Sequence[Any]) -> Any:
    import numpy as np
    import pandas as pd

    floats = np.array(values, dtype=np.float64)  # None -> NaN, in C
    mask = np.isnan(floats)
    if len(floats) and np.nanmax(np.abs(floats), initial=0.0) >= _EXACT_IN_FLOAT:
        objects = np.array(values, dtype=object)
        objects[mask] = 0
        ints = objects.astype(np.int64)
    else:
        ints = np.where(mask, 0.0, floats).astype(np.int64)
    return pd.arrays.IntegerArray(ints, mask)


def time_array(values: Sequence[Any] | np.ndarray) -> Any:
    """Microseconds since the epoch -> ``datetime64[us, UTC]``."""
    import numpy as np
    import pandas as pd

    micros = np.array(values, dtype=np.int64)
    return pd.DatetimeIndex(micros.view("datetime64[us]")).tz_localize("UTC").array


def _str_array(values: Sequence[Any]) -> Any:
    import numpy as np
    import pandas as pd

    return pd.array(np.array(values, dtype=object), dtype="str")


def text_array(values: Any) -> Any:
    """An object array of strings and NaN (none missing as None) -> the ``str`` array that
    :func:`_str_array` makes of it, without its per-value pass where pandas stores ``str``
    as Python strings (no pyarrow): 2 ms instead of 9 per 100,000 values."""
    import pandas as pd

    dtype = pd.api.types.pandas_dtype("str")
    if isinstance(dtype, pd.StringDtype) and dtype.storage == "python":
        return pd.arrays.StringArray(values, dtype=dtype)
    return pd.array(values, dtype=dtype)


def _category_array(values: Sequence[Any]) -> Any:
    """Low-cardinality text -> Categorical with sorted categories (missing -> NaN).

    The distinct values in a dict, each value's code looked up through it, all in C: about
    twice as fast as ``pd.Categorical(values)`` on freshly fetched strings, and this is
    the costliest conversion of a cold frame after the texts.
    """
    import numpy as np
    import pandas as pd

    first_seen = dict(zip(dict.fromkeys(values), itertools.count()))
    codes = np.fromiter(map(first_seen.__getitem__, values), dtype=np.int64, count=len(values))
    remap = np.full(len(first_seen), -1, dtype=np.int64)
    first_seen.pop(None, None)
    categories = sorted(first_seen)
    for new_code, value in enumerate(categories):
        remap[first_seen[value]] = new_code
    return pd.Categorical.from_codes(
        remap[codes] if len(codes) else codes, categories=pd.Index(categories, dtype="str")
    )


def _parse_json(text: Any) -> Any:
    if not isinstance(text, str):
        return {}
    try:
        return json.loads(text)
    except ValueError:
        return text


def convert_column(name: str, values: Sequence[Any]) -> Any:
    """One column of raw SQLite values -> the pandas array with the dtype of ``name``."""
    import numpy as np

    if name in TIME_COLUMNS:
        return time_array(values)
    if name in INT_COLUMNS:
        return _int_array(values)
    if name in FLOAT_COLUMNS:
        return np.array(values, dtype=np.float64)
    if name in BOOL_COLUMNS:
        return np.array(values, dtype=bool)
    if name in CATEGORY_COLUMNS:
        return _category_array(values)
    return _str_array(values)


def build_frame(
    rows: list[tuple[Any, ...]], columns: Sequence[str] = COLUMNS, *, parse_params: bool = False
) -> pd.DataFrame:
    """Rows from ``SELECT <columns> ...`` -> DataFrame: transpose once, convert per column."""
    import pandas as pd

    transposed: Sequence[Sequence[Any]] = list(zip(*rows)) if rows else [()] * len(columns)
    data = {name: convert_column(name, values) for name, values in zip(columns, transposed)}
    frame = pd.DataFrame(data, columns=list(columns), copy=False)
    if parse_params:
        parse_params_column(frame)
    return frame


def parse_params_column(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with its ``params`` JSON text parsed to dicts (in place, and returned)."""
    import pandas as pd

    if "params" in frame:
        texts = frame["params"].to_numpy(dtype=object)
        frame["params"] = pd.Series(
            [_parse_json(text) for text in texts], index=frame.index, dtype=object
        )
    return frame


def concat_frames(a: pd.DataFrame, b: pd.DataFrame) -> pd.DataFrame:
    """Row-wise concatenation that keeps every dtype (categoricals are unioned)."""
    import pandas as pd
    from pandas.api.types import union_categoricals

    if not len(b):
        return a
    if not len(a):
        return b
    data = {}
    for name in a.columns:
        left, right = a[name], b[name]
        if isinstance(left.dtype, pd.CategoricalDtype):
            try:
                data[name] = union_categoricals([left.array, right.array], sort_categories=True)
            except TypeError:  # categories of different dtypes: factorize again
                merged = pd.concat([left.astype(object), right.astype(object)], ignore_index=True)
                data[name] = _category_array(merged.where(merged.notna(), None).tolist())
        else:
            data[name] = pd.concat([left, right], ignore_index=True).array
    return pd.DataFrame(data, columns=a.columns, copy=False)


def drop_unused_categories(frame: pd.DataFrame) -> pd.DataFrame:
    import pandas as pd

    for name in CATEGORY_COLUMNS.intersection(frame.columns):
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].cat.remove_unused_categories()
    return frame


def summarize(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per (backend, model) of a :func:`build_frame` DataFrame.

    * ``calls``: distinct ``call_id``; ``attempts``: rows; ``errors``: rows with
      ``status == "error"``; ``cache_hits``: rows with ``cache_hit``;
    * ``cache_hit_rate = cache_hits / calls`` (retries do not dilute it);
    * ``p50_latency_s`` / ``p95_latency_s``: quantiles (linear interpolation, as
      ``Series.quantile``) of ``latency_s`` over the ``status == "ok"`` rows only: cache
      hits and failed attempts would blur the model's latency; NaN when there are none;
    * ``input_tokens`` / ``output_tokens`` / ``cached_tokens`` / ``reasoning_tokens``:
      sums (unknown counts skipped);
    * ``cost_usd``: sum of known costs, NaN when no attempt had a known cost (so "free"
      and "unpriced" stay different); ``saved_cost_usd``: what llmdeck's response cache
      saved (calls not sent, at the cost they had when first made; 0.0 if none);
      ``provider_saved_usd``: what the provider's prompt caching saved (cached tokens at
      the difference between the input and the cached price; 0.0 if none).
    """
    import numpy as np
    import pandas as pd

    if not len(frame):
        empty = {name: pd.Series(dtype="float64") for name in SUMMARY_COLUMNS}
        for name in ("backend", "model"):
            empty[name] = pd.Series(dtype="category")
        for name in ("calls", "attempts", "errors", "cache_hits"):
            empty[name] = pd.Series(dtype="int64")
        for name in ("input_tokens", "output_tokens", "cached_tokens", "reasoning_tokens"):
            empty[name] = pd.Series(dtype="Int64")
        return pd.DataFrame(empty, columns=list(SUMMARY_COLUMNS))

    status = frame["status"].astype(object)
    work = pd.DataFrame(
        {
            "backend": frame["backend"],
            "model": frame["model"],
            "call_id": frame["call_id"],
            "is_error": (status == "error").to_numpy(dtype=bool),
            "cache_hit": frame["cache_hit"].to_numpy(dtype=bool),
            "ok_latency": frame["latency_s"].where(status == "ok"),
            "input_tokens": frame["input_tokens"],
            "output_tokens": frame["output_tokens"],
            "cached_tokens": frame["cached_tokens"],
            "reasoning_tokens": frame["reasoning_tokens"],
            "cost_usd": frame["cost_usd"],
            "saved_cost_usd": frame["saved_cost_usd"],
            "provider_saved_usd": frame["provider_saved_usd"],
        }
    )
    groups = work.groupby(["backend", "model"], observed=True, dropna=False, sort=True)
    out = pd.DataFrame(
        {
            "calls": groups["call_id"].nunique().astype("int64"),
            "attempts": groups.size().astype("int64"),
            "errors": groups["is_error"].sum().astype("int64"),
            "cache_hits": groups["cache_hit"].sum().astype("int64"),
        }
    )
    out["cache_hit_rate"] = out["cache_hits"] / out["calls"].where(out["calls"] > 0, np.nan)
    out["p50_latency_s"] = groups["ok_latency"].quantile(0.5).astype("float64")
    out["p95_latency_s"] = groups["ok_latency"].quantile(0.95).astype("float64")
    out["input_tokens"] = groups["input_tokens"].sum().astype("Int64")
    out["output_tokens"] = groups["output_tokens"].sum().astype("Int64")
    out["cached_tokens"] = groups["cached_tokens"].sum().astype("Int64")
    out["reasoning_tokens"] = groups["reasoning_tokens"].sum().astype("Int64")
    out["cost_usd"] = groups["cost_usd"].sum(min_count=1).astype("float64")
    out["saved_cost_usd"] = groups["saved_cost_usd"].sum().astype("float64")
    out["provider_saved_usd"] = groups["provider_saved_usd"].sum().astype("float64")
    return out.reset_index()[list(SUMMARY_COLUMNS)]
