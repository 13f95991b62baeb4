"""The total time budget of one call (``RetryPolicy.total_budget_s``), and the timeout of
one attempt.

A backend's ``timeout`` is the longest wait for the server (to connect, for the answer to
start, between two stream chunks): a trickling stream never trips it. The call's budget is
a wall-clock bound on everything: every attempt, streaming included, and the waits between
retries. :meth:`Deadline.bound` enforces it around each attempt, with a timer on the
event loop. A synchronous call that reads its answer with blocking I/O and no loop
(:func:`llmdeck_nb.engine.loop.driven_eagerly`) has no timer: none could stop a thread
blocked in a read, on a loop or not, so its attempt's own timeout bounds it.
"""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Awaitable
from typing import TypeVar

from llmdeck_nb.backends.errors import deadline_error
from llmdeck_nb.engine.loop import driven_eagerly
from llmdeck_nb.errors import BackendTimeoutError

T = TypeVar("T")


class Deadline:
    """When a call started and when it must end."""

    __slots__ = ("budget_s", "ends", "started")

    def __init__(self, budget_s: float, started: float | None = None) -> None:
        self.started = time.perf_counter() if started is None else started
        self.budget_s = budget_s
        self.ends = self.started + budget_s

    def remaining(self) -> float:
        return self.ends - time.perf_counter()

    @property
    def expired(self) -> bool:
        return self.remaining() <= 0

    def allows_wait(self, seconds: float) -> bool:
        """True if waiting ``seconds`` before another attempt stays within the budget."""
        return self.remaining() > seconds

    async def bound(self, attempt: Awaitable[T], backend: str) -> T:
        """Await ``attempt``; a BackendTimeoutError (not retried) when the budget runs out."""
        if driven_eagerly():
            return await attempt
        if sys.version_info < (3, 11):  # no Task.uncancel: wait_for and its extra task
            try:
                return await asyncio.wait_for(attempt, max(self.remaining(), 0.0))
            except (asyncio.TimeoutError, TimeoutError):
                raise self.exceeded(backend) from None
        # what `async with asyncio.timeout(...)` does (3.11+), without its context manager
        # object and two coroutines: half its cost, paid on every attempt
        loop = asyncio.get_running_loop()
        task = asyncio.current_task(loop)
        assert task is not None  # an attempt runs in a task when a loop runs
        cancelling = task.cancelling()  # cancellations the caller asked for already
        expiry = _Expiry(task)
        timer = loop.call_at(loop.time() + self.remaining(), expiry)
        try:
            return await attempt
        except asyncio.CancelledError:
            if expiry.fired:
                expiry.fired = False  # its cancellation taken back here
                if task.uncancel() <= cancelling:  # ours alone: the budget ran out
                    raise self.exceeded(backend) from None
            raise
        finally:
            timer.cancel()
            if expiry.fired:  # it fired, yet the attempt ended otherwise: take it back all the same
                task.uncancel()

    def exceeded(self, backend: str) -> BackendTimeoutError:
        return deadline_error(backend, self.budget_s)


class _Expiry:
    """The timer callback of :meth:`Deadline.bound`: cancels the attempt's task, once."""

    __slots__ = ("fired", "task")

    def __init__(self, task: asyncio.Task[object]) -> None:
        self.task, self.fired = task, False

    def __call__(self) -> None:
        self.fired = True
        self.task.cancel()


__all__ = ["Deadline"]
