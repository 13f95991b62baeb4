"""One prompt template over every row of a DataFrame: :func:`abatch` and :func:`run_batch`.

``rows`` is a DataFrame, a Series or a list of dicts or strings; ``{column}`` fields in
the template are filled from each row with the rules of ``%%llm`` (a Series or a list of
strings fills ``{value}``, and a named Series its name too). The result keeps the input's
index and columns and adds ``output`` (the parsed object with ``schema=``), ``model``,
``backend``, ``latency_s``, ``input_tokens``, ``output_tokens``, ``cost_usd``, ``cached``,
``error`` and ``call_id``.

* ``concurrency`` workers pull rows one at a time, so memory is bounded by the
  concurrency, not the row count (apart from the result columns themselves); the deck's
  rate limits apply on top (:mod:`.ratelimit`).
* ``on_error="record"``: a failed row carries its error and the others go on;
  ``"raise"``: the first error stops the batch and is raised.
* A budget refusal (:mod:`.budget`; ``budget_usd=`` limits this batch) stops the batch:
  the rows not sent are marked ``"skipped: budget"``.
* An interrupt (:meth:`BatchRun.interrupt`; KeyboardInterrupt in :func:`run_batch`) stops
  within a second, cancels the requests in flight and returns the partial frame, rows
  not run marked ``"not run: interrupted"``. Finished rows are in the cache and the log
  already, so running the same batch again sends only the rest.
* The frame's ``attrs["llmdeck_batch"]`` holds the counts; :func:`summary_line` says them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import ChainMap
from collections.abc import Callable, Iterator, Mapping, MutableMapping
from concurrent.futures import Future
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from llmdeck_nb.engine import loop
from llmdeck_nb.engine.budget import Allowance, batch_allowance
from llmdeck_nb.engine.result import format_cost
from llmdeck_nb.errors import BatchError, BudgetExceededError, LLMDeckError

if TYPE_CHECKING:
    import pandas as pd

    from llmdeck_nb.engine.result import Result
    from llmdeck_nb.engine.caller import Caller

logger = logging.getLogger("llmdeck_nb")

RESULT_COLUMNS = ("output", "model", "backend", "latency_s", "input_tokens", "output_tokens",
                  "cost_usd", "cached", "error", "call_id")
ON_ERROR = ("record", "raise")
NOT_RUN = "not run: interrupted"
SKIPPED_BUDGET = "skipped: budget"
#: how often the progress bar is redrawn (it never waits for the batch, nor the batch for it)
PROGRESS_INTERVAL_S = 0.25


@dataclass
class BatchStats:
    rows: int = 0
    answered: int = 0
    cached: int = 0
    errors: int = 0
    not_run: int = 0
    cost_usd: float = 0.0
    elapsed_s: float = 0.0
    stopped: str | None = None  # None | "interrupted" | "budget" | "error"
    budget_error: str | None = None

    @property
    def done(self) -> int:
        return self.answered + self.errors


@dataclass
class _Columns:
    """The result columns, filled by position as rows finish."""

    size: int
    values: dict[str, list[Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.values = {name: [None] * self.size for name in RESULT_COLUMNS}

    def put(self, position: int, **row: Any) -> None:
        for name, value in row.items():
            self.values[name][position] = value


class BatchRun:
    """One batch: build it in the calling thread (the progress bar shows there), then
    ``await run.run()`` on any event loop; :meth:`interrupt` from any thread."""

    def __init__(self, session: Caller, rows: Any, template: str, model: str | None = None, *,
                 concurrency: int = 16, on_error: str = "record", progress: bool = True,
                 column: str = "output", budget_usd: float | None = None,
                 variables: Mapping[str, Any] | None = None, **options: Any) -> None:
        from llmdeck_nb.notebook.interpolation import compile_template

        if not isinstance(concurrency, int) or concurrency < 1:
            raise BatchError(
                f"concurrency={concurrency!r}: give a number of requests of at least 1")
        if on_error not in ON_ERROR:
            raise BatchError(
                f"on_error={on_error!r} is not one of: {', '.join(ON_ERROR)}",
                hint='"record" keeps going and puts the error in the row; "raise" stops')
        self.session, self.model, self.options = session, model, options
        self.concurrency, self.on_error, self.column = concurrency, on_error, column
        self.budget_usd, self.variables = budget_usd, variables
        # an unknown model or preset fails now, not once per row
        session.resolve(model, options.get("preset"), options.get("profile"),
                        structured=options.get("schema") is not None)
        self.frame, row_dicts = _input_frame(rows)
        self._check_columns()
        self.render = compile_template(template)
        self.parsed = options.get("schema") is not None
        self.stats = BatchStats(rows=len(self.frame))
        self.columns = _Columns(len(self.frame))
        self._finished = bytearray(len(self.frame))
        self._rows = enumerate(row_dicts())
        self._workers: list[asyncio.Task[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._bar = _progress_bar(len(self.frame)) if progress and len(self.frame) else None
        first = next(row_dicts(), None)
        if first is not None:  # a field that no row can fill fails now, before anything is sent
            self.render(self._namespace(first))

    def _check_columns(self) -> None:
        added = [self.column, *RESULT_COLUMNS[1:]]
        clash = [str(c) for c in self.frame.columns if c in added]
        if clash:
            raise BatchError(
                f"the rows already have column(s) {', '.join(clash)}, which the batch adds",
                hint="name the answer column with column= (--column NAME), or rename those columns")

    def _namespace(self, row: Mapping[str, Any]) -> Mapping[str, Any]:
        if self.variables is None:
            return row
        # ChainMap writes only to its first map, and nothing writes to this one
        layers = cast("list[MutableMapping[str, Any]]", [row, self.variables])
        return ChainMap(*layers)

    # --- running -------------------------------------------------------------------------

    async def run(self) -> pd.DataFrame:
        self._loop = asyncio.get_running_loop()
        started = time.perf_counter()
        allowance = Allowance("batch", self.budget_usd) if self.budget_usd is not None else None
        token = batch_allowance.set(allowance)  # the workers copy this context
        try:
            self._workers = [asyncio.create_task(self._worker())
                             for _ in range(min(self.concurrency, len(self.frame)))]
        finally:
            batch_allowance.reset(token)
        ticker = asyncio.create_task(self._tick()) if self._bar is not None else None
        try:
            await self._wait()
        finally:
            if ticker is not None:
                ticker.cancel()
            self.stats.elapsed_s = time.perf_counter() - started
            self._draw(final=True)
        return self._result()

    async def _wait(self) -> None:
        try:
            done, pending = await asyncio.wait(self._workers, return_when=asyncio.FIRST_EXCEPTION)
        except BaseException:  # this batch itself was cancelled: stop the workers too
            self._cancel_workers()
            await asyncio.gather(*self._workers, return_exceptions=True)
            raise
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        for task in done:
            error = None if task.cancelled() else task.exception()
            if error is not None:
                self.stats.stopped = "error"
                raise error

    async def _worker(self) -> None:
        for position, row in self._rows:
            if self.stats.stopped:
                return
            await self._one(position, row)

    async def _one(self, position: int, row: Mapping[str, Any]) -> None:
        try:
            prompt = self.render(self._namespace(row))
            result = await self.session.acomplete(prompt, self.model, **self.options)
        except BudgetExceededError as exc:
            self.stats.stopped = self.stats.stopped or "budget"
            self.stats.budget_error = self.stats.budget_error or str(exc)
            return  # marked "skipped: budget" with the other rows not sent
        except LLMDeckError as exc:
            if self.on_error == "raise":
                raise
            self._finished[position] = 1
            self.stats.errors += 1
            self.columns.put(position, error=exc.message)
            return
        self._finished[position] = 1
        self._record(position, result)

    def _record(self, position: int, result: Result) -> None:
        stats = self.stats
        stats.answered += 1
        stats.cached += result.cached
        stats.cost_usd += result.cost_usd or 0.0
        self.columns.put(position, output=result.value if self.parsed else result.text,
                         model=result.model, backend=result.backend, latency_s=result.latency_s,
                         input_tokens=result.input_tokens, output_tokens=result.output_tokens,
                         cost_usd=result.cost_usd, cached=result.cached, call_id=result.call_id)

    def interrupt(self) -> None:
        """Stop now (from any thread): requests in flight are cancelled, rows not run marked."""
        self.stats.stopped = self.stats.stopped or "interrupted"
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._cancel_workers)

    def _cancel_workers(self) -> None:
        for task in self._workers:
            task.cancel()

    # --- the result and the progress bar ---------------------------------------------------

    def _result(self) -> pd.DataFrame:
        mark = SKIPPED_BUDGET if self.stats.stopped == "budget" else NOT_RUN
        errors = self.columns.values["error"]
        for position, finished in enumerate(self._finished):
            if not finished:
                errors[position] = mark
                self.stats.not_run += 1
        frame = self.frame.copy()
        values = self.columns.values
        frame[self.column] = values["output"]
        for name in RESULT_COLUMNS[1:]:
            frame[name] = values[name]
        frame = frame.astype({"input_tokens": "Int64", "output_tokens": "Int64",
                              "cached": "boolean", "latency_s": "float64", "cost_usd": "float64"})
        frame.attrs["llmdeck_batch"] = self.stats
        return frame

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(PROGRESS_INTERVAL_S)
            self._draw()

    def _draw(self, final: bool = False) -> None:
        bar = self._bar
        if bar is None:
            return
        stats = self.stats
        bar.set_postfix_str(f"cached={stats.cached} errors={stats.errors} "
                            f"cost={format_cost(stats.cost_usd)}", refresh=False)
        bar.update(stats.done - bar.n)
        if final:
            bar.close()


RowDicts = Callable[[], Iterator[dict[str, Any]]]


def _input_frame(rows: Any) -> tuple[pd.DataFrame, RowDicts]:
    """The input as a DataFrame (kept in the result), and how to iterate its rows lazily."""
    import pandas as pd

    if isinstance(rows, pd.DataFrame):
        names = [str(c) for c in rows.columns]
        return rows, lambda: (dict(zip(names, values))
                              for values in rows.itertuples(index=False, name=None))
    if isinstance(rows, pd.Series):
        name = rows.name if isinstance(rows.name, str) and rows.name.isidentifier() else None
        return rows.to_frame(name or "value"), lambda: ({"value": v, **({name: v} if name else {})}
                                                        for v in rows)
    if isinstance(rows, (list, tuple)):
        if all(isinstance(r, str) for r in rows):
            return pd.DataFrame({"value": list(rows)}), lambda: ({"value": r} for r in rows)
        if all(isinstance(r, Mapping) for r in rows):
            return pd.DataFrame(list(rows)), lambda: (dict(r) for r in rows)
    raise BatchError(
        f"cannot run a batch over a {type(rows).__name__}",
        hint="pass a DataFrame, a Series, or a list of dicts or of strings")


def _progress_bar(total: int) -> Any:
    from tqdm.auto import tqdm

    return tqdm(total=total, desc="llmdeck batch", unit="row", mininterval=PROGRESS_INTERVAL_S,
                dynamic_ncols=True)


async def abatch(session: Caller, rows: Any, template: str, model: str | None = None,
                 **options: Any) -> pd.DataFrame:
    """Run ``template`` over ``rows`` on the running event loop (see the module docstring)."""
    return await BatchRun(session, rows, template, model, **options).run()


def run_batch(session: Caller, rows: Any, template: str, model: str | None = None,
              **options: Any) -> pd.DataFrame:
    """Synchronous :func:`abatch` (works in a notebook); KeyboardInterrupt returns the rows
    done so far, the others marked ``"not run: interrupted"``."""
    run = BatchRun(session, rows, template, model, **options)
    future: Future[pd.DataFrame] | None = None
    try:
        future = loop.submit(run.run())
        return loop.wait(future)
    except KeyboardInterrupt:
        run.interrupt()
        if future is None:  # before the batch was handed over: nothing will be sent
            raise
    while True:  # the rows in flight are being cancelled (within a second)
        with suppress(KeyboardInterrupt):  # pressed again meanwhile: the frame is nearly there
            frame = loop.wait(future)
            break
    logger.warning("llmdeck: %s", summary_line(frame))
    return frame


def summary_line(frame: pd.DataFrame) -> str:
    """``batch: 200 rows, 180 answered (20 from the cache), 20 errors, $0.0123, 3.2 s``"""
    stats: BatchStats | None = frame.attrs.get("llmdeck_batch")
    if stats is None:
        return f"batch: {len(frame)} rows"
    parts = [f"batch: {stats.rows} rows",
             f"{stats.answered} answered ({stats.cached} from the cache)",
             f"{stats.errors} error{'' if stats.errors == 1 else 's'}", format_cost(stats.cost_usd),
             f"{stats.elapsed_s:.2f} s"]
    if stats.stopped == "interrupted":
        parts.append(f"interrupted: {stats.not_run} rows not run (run it again to send only those)")
    elif stats.stopped == "budget":
        parts.append(f"stopped by the budget: {stats.not_run} rows skipped")
    line = ", ".join(parts)
    if stats.budget_error:
        line += f"\n{stats.budget_error}"
    return line


__all__ = ["BatchRun", "BatchStats", "abatch", "run_batch", "summary_line"]
