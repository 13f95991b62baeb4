"""A columnar snapshot of a call log's frame, kept next to the file: a kernel restart reads
100,000 rows in a fraction of the time SQLite takes to hand them over.

Reading a large log through ``sqlite3`` costs one Python object per value (1.1 s for
100,000 rows before pandas sees them). The snapshot holds the unfiltered frame of
:meth:`CallLog.frame` column by column, so loading it builds each column in one step: numbers
as arrays, categoricals as codes and categories, texts as one UTF-8 buffer and their
lengths (or, for texts that repeat such as params or tags, codes into their distinct
values).

Format: an ``.npz`` file (numpy's zip of ``.npy`` arrays) at ``<log file>-frame``, read
with ``allow_pickle=False``: loading a snapshot from someone else's log runs no code. A
``meta`` entry (JSON) says what it covers: the log's id, its change generation, the schema
version and columns, the largest row id covered, the row count up to it and that row's
fingerprint. :meth:`CallLog.frame` checks all of these against the file before using
it (see ``store.py``); anything missing, unreadable, truncated (the zip's CRCs), foreign or
stale is ignored, never gives wrong rows. It is written through a temporary file and
``os.replace``, so a reader (another kernel) sees the old snapshot or the new one, whole.

Disk cost: about the size of the log's text (prompt and response previews, ids): 55 MB for
the 100,000 rows of benchmarks/bench_calllog.py, whose SQLite file is 73 MB. Rows appended
since the snapshot are read from SQLite as before; a read that had to convert at least
``SNAPSHOT_MIN_ROWS`` of them saves a new one (see ``store.py``).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmdeck_nb.calllog import frame as _frame
from llmdeck_nb.calllog.records import COLUMNS
from llmdeck_nb.calllog.schema import SCHEMA_VERSION

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pandas as pd

logger = logging.getLogger(__name__)

FORMAT = "llmdeck-calllog-frame/1"
SUFFIX = "-frame"
#: A text column is stored as codes into its distinct values when it has at most this
#: share of distinct values (params, tags, hosts...); otherwise as one buffer.
_DISTINCT_SHARE = 0.5
_SAMPLE = 2000


@dataclass(frozen=True)
class Coverage:
    """Which rows of which log a snapshot holds."""

    log_id: str
    generation: int  # the log's count of updates and deletions (schema.py's triggers)
    max_id: int  # rows with id <= max_id ...
    count: int  # ... of which there were this many
    fingerprint: str  # call_id and started_at of the row max_id


def sidecar(path: Path) -> Path:
    """Where the snapshot of the log at ``path`` is kept."""
    return path.with_name(path.name + SUFFIX)


# --- writing ---------------------------------------------------------------------------


def _smallest(values: np.ndarray) -> np.ndarray:
    """Integers in the narrowest dtype that holds them (counts, codes: most fit in 16 bits)."""
    import numpy as np

    if not len(values):
        return values.astype(np.int8)
    return values.astype(np.result_type(np.min_scalar_type(int(values.min())),
                                         np.min_scalar_type(-int(values.max()) - 1)))


def _texts(values: np.ndarray, prefix: str, out: dict[str, np.ndarray]) -> None:
    """Strings (NaN/None when missing) as a missing-mask and one UTF-8 buffer of them joined
    by NUL, which splits back in one call; or, if a string holds a NUL, joined with
    nothing, and their lengths."""
    import numpy as np
    import pandas as pd

    missing = np.asarray(pd.isna(values), dtype=bool)
    present = values[~missing].tolist()
    joined = "\0".join(present)
    out[prefix + ".missing"] = missing
    if joined.count("\0") != max(len(present) - 1, 0):
        joined = "".join(present)
        lengths = np.fromiter(map(len, present), dtype=np.int64, count=len(present))
        out[prefix + ".lengths"] = _smallest(lengths)
    out[prefix + ".utf8"] = np.frombuffer(joined.encode("utf-8"), dtype=np.uint8)


def _repeats(values: np.ndarray) -> bool:
    """Whether a text column is worth storing as codes (judged on its first rows)."""
    sample = values[:_SAMPLE].tolist()
    return len(set(sample)) <= len(sample) * _DISTINCT_SHARE


def _encode(name: str, column: pd.Series, prefix: str, out: dict[str, np.ndarray]) -> str:
    """One column into ``out`` (arrays named ``prefix.*``); returns how it is stored."""
    import numpy as np
    import pandas as pd

    if name in _frame.TIME_COLUMNS:
        out[prefix + ".micros"] = np.asarray(column.array.asi8, dtype=np.int64)
        return "time"
    if name in _frame.INT_COLUMNS:
        out[prefix + ".values"] = _smallest(column.array.to_numpy(dtype=np.int64, na_value=0))
        out[prefix + ".missing"] = np.asarray(column.isna(), dtype=bool)
        return "int"
    if name in _frame.FLOAT_COLUMNS or name in _frame.BOOL_COLUMNS:
        out[prefix + ".values"] = column.to_numpy()
        return "float" if name in _frame.FLOAT_COLUMNS else "bool"
    if name in _frame.CATEGORY_COLUMNS:
        out[prefix + ".codes"] = _smallest(np.asarray(column.cat.codes))
        _texts(np.asarray(column.cat.categories, dtype=object), prefix + ".categories", out)
        return "category"
    values = column.to_numpy(dtype=object)
    if _repeats(values):
        codes, distinct = pd.factorize(values)
        out[prefix + ".codes"] = _smallest(codes)
        _texts(np.asarray(distinct, dtype=object), prefix + ".distinct", out)
        return "coded_text"
    _texts(values, prefix, out)
    return "text"


def write(path: Path, frame: pd.DataFrame, coverage: Coverage) -> int | None:
    """Save ``frame`` (the log's unfiltered frame, covering ``coverage``) as the snapshot of
    the log at ``path``; returns its size in bytes, or None when it could not be written
    (a read-only folder, a full disk: the log works without it)."""
    import numpy as np

    target = sidecar(path)
    _remove_abandoned(target)
    try:  # first: a folder we cannot write to costs no encoding
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name + ".",
                                             suffix=_TEMPORARY)
    except OSError as exc:
        logger.debug("call log snapshot %s not written: %s", target, exc)
        return None
    try:
        arrays: dict[str, np.ndarray] = {}
        kinds = [_encode(name, frame[name], f"c{i}", arrays) for i, name in enumerate(COLUMNS)]
        meta = {"format": FORMAT, "schema_version": SCHEMA_VERSION, "columns": list(COLUMNS),
                "kinds": kinds, "rows": len(frame), **asdict(coverage)}
        arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
        with os.fdopen(handle, "wb") as file:
            np.savez(file, allow_pickle=False, **arrays)
        os.replace(temporary, target)
        return target.stat().st_size
    except (OSError, UnicodeError) as exc:  # a full disk; a text that cannot be UTF-8
        logger.debug("call log snapshot %s not written: %s", target, exc)
        Path(temporary).unlink(missing_ok=True)
        return None


_TEMPORARY = ".tmp"
_ABANDONED_S = 600  # a temporary file this old was left by a kernel killed while writing


def _remove_abandoned(target: Path) -> None:
    now = time.time()
    for leftover in target.parent.glob(glob.escape(target.name) + ".*" + _TEMPORARY):
        try:
            if now - leftover.stat().st_mtime > _ABANDONED_S:
                leftover.unlink()
        except OSError:
            pass


# --- reading ---------------------------------------------------------------------------


class _Invalid(ValueError):
    """The snapshot does not hold what its meta says."""


def _array(npz: Any, key: str, kind: str, length: int | None) -> np.ndarray:
    array: np.ndarray = npz[key]
    if array.ndim != 1 or array.dtype.kind not in kind or (
        length is not None and len(array) != length
    ):
        raise _Invalid(f"{key}: {array.dtype}[{array.shape}]")
    return array


def _strings(npz: Any, prefix: str, length: int | None) -> np.ndarray:
    """The object array of strings (NaN when missing) that :func:`_texts` stored."""
    import numpy as np

    missing = _array(npz, prefix + ".missing", "b", length)
    present = int(len(missing) - missing.sum())
    text = str(_array(npz, prefix + ".utf8", "u", None).data, "utf-8")
    if prefix + ".lengths" in npz.files:
        lengths = _array(npz, prefix + ".lengths", "i", present).astype(np.int64)
        ends = np.cumsum(lengths)
        if len(lengths) and (int(lengths.min()) < 0 or int(ends[-1]) != len(text)):
            raise _Invalid(f"{prefix}: lengths do not add up to the text")
        pieces = list(map(text.__getitem__, map(slice, (ends - lengths).tolist(), ends.tolist())))
    else:
        pieces = text.split("\0") if present else []
        if len(pieces) != present:
            raise _Invalid(f"{prefix}: {len(pieces)} texts for {present} rows")
    if not missing.any():
        return np.array(pieces, dtype=object) if pieces else np.empty(0, dtype=object)
    out = np.full(len(missing), np.nan, dtype=object)
    out[~missing] = pieces
    return out


def _codes(npz: Any, key: str, length: int, distinct: int) -> np.ndarray:
    import numpy as np

    codes = _array(npz, key, "iu", length).astype(np.intp)
    if len(codes) and (int(codes.min()) < -1 or int(codes.max()) >= distinct):
        raise _Invalid(f"{key}: codes out of range")
    return codes


def _decode(name: str, kind: str, npz: Any, prefix: str, rows: int) -> Any:
    """One column of the frame, with the dtype :mod:`llmdeck_nb.calllog.frame` gives it."""
    import numpy as np
    import pandas as pd

    expected = ("time" if name in _frame.TIME_COLUMNS else "int" if name in _frame.INT_COLUMNS
                else "float" if name in _frame.FLOAT_COLUMNS else "bool"
                if name in _frame.BOOL_COLUMNS else "category"
                if name in _frame.CATEGORY_COLUMNS else kind)
    if kind != expected or kind not in ("time", "int", "float", "bool", "category", "text",
                                        "coded_text"):
        raise _Invalid(f"{name}: stored as {kind}")
    if kind == "time":
        return _frame.time_array(_array(npz, prefix + ".micros", "i", rows))
    if kind == "int":
        values = _array(npz, prefix + ".values", "iu", rows).astype(np.int64)
        return pd.arrays.IntegerArray(values, _array(npz, prefix + ".missing", "b", rows))
    if kind in ("float", "bool"):
        return _array(npz, prefix + ".values", "f" if kind == "float" else "b", rows)
    if kind == "category":
        categories = _strings(npz, prefix + ".categories", None)
        codes = _codes(npz, prefix + ".codes", rows, len(categories))
        return pd.Categorical.from_codes(codes, categories=pd.Index(categories, dtype="str"))
    if kind == "coded_text":
        distinct = _strings(npz, prefix + ".distinct", None)
        codes = _codes(npz, prefix + ".codes", rows, len(distinct))
        return _frame.text_array(np.append(distinct, np.nan)[codes])
    return _frame.text_array(_strings(npz, prefix, rows))


def read(path: Path) -> tuple[Coverage, pd.DataFrame] | None:
    """The snapshot of the log at ``path`` and what it covers, or None when there is none
    or it cannot be read whole (the caller still checks the coverage against the log)."""
    import numpy as np
    import pandas as pd

    target = sidecar(path)
    try:
        with np.load(target, allow_pickle=False) as npz:
            meta = json.loads(_array(npz, "meta", "u", None).tobytes().decode())
            if (meta.get("format"), meta.get("schema_version"), meta.get("columns")) != (
                FORMAT, SCHEMA_VERSION, list(COLUMNS)
            ):
                return None
            coverage = Coverage(str(meta["log_id"]), int(meta["generation"]),
                                int(meta["max_id"]), int(meta["count"]),
                                str(meta["fingerprint"]))
            rows = int(meta["rows"])
            if rows != coverage.count:
                raise _Invalid("row count")
            data = {name: _decode(name, str(kind), npz, f"c{i}", rows)
                    for i, (name, kind) in enumerate(zip(COLUMNS, meta["kinds"], strict=True))}
    except FileNotFoundError:
        return None
    except Exception as exc:  # noqa: BLE001 - anyone may have written the file: unreadable,
        # truncated, corrupt (a zip CRC) or not ours, it is ignored and rewritten later
        logger.debug("call log snapshot %s ignored: %s", target, exc)
        return None
    return coverage, pd.DataFrame(data, columns=list(COLUMNS), copy=False)


def remove(path: Path) -> None:
    """Delete the snapshot of the log at ``path`` (after ``clear()``: it covers nothing)."""
    try:
        sidecar(path).unlink(missing_ok=True)
    except OSError as exc:
        logger.debug("call log snapshot of %s not removed: %s", path, exc)
