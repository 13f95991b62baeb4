"""The total time budget of one call (``RetryPolicy.total_budget_s``), and the timeout of
one attempt.

A backend's ``timeout`` is the longest wait for the server (to connect, for the answer to
start, between two stream chunks): a trickling stream never trips it. The call's budget is
a wall-clock bound on everything: every attempt, streaming included, and the waits between
retries. :meth:`Deadline.bound` enforces it around each attempt, with a timer on the
event loop. A synchronous call that reads its answer with blocking I/O and no loop
(:func:`llmdeck_nb.engine.loop.driven_eagerly`) has no timer: none could stop a thread
blocked in a read, on a loop or not, so its attempt's own timeout bounds it; an attempt
whose own timeout would not end it within the budget (:meth:`Deadline.bounds_blocking`)
reads on the loop instead.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable
from typing import TypeVar

from llmdeck_nb.backends.errors import deadline_error
from llmdeck_nb.engine.loop import driven_eagerly
from llmdeck_nb.errors import BackendTimeoutError

T = TypeVar("T")
_timeout = getattr(asyncio, "timeout", None)


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

    def bounds_blocking(self, timeout: float | None) -> bool:
        """True if an attempt read with blocking I/O (no timer can stop it) still ends within
        the budget: its own ``timeout`` (``None``: no limit) is not longer than what is left."""
        return timeout is not None and timeout <= self.remaining()

    async def bound(self, attempt: Awaitable[T], backend: str) -> T:
        """Await ``attempt``; a BackendTimeoutError (not retried) when the budget runs out."""
        if driven_eagerly():
            return await attempt
        remaining = max(self.remaining(), 0.0)
        try:
            if _timeout is None:  # Python 3.10
                return await asyncio.wait_for(attempt, remaining)
            async with _timeout(remaining):  # no extra task per attempt (3.11+)
                return await attempt
        except (asyncio.TimeoutError, TimeoutError):
            raise self.exceeded(backend) from None

    def exceeded(self, backend: str) -> BackendTimeoutError:
        return deadline_error(backend, self.budget_s)


__all__ = ["Deadline"]
