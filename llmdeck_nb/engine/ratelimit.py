"""Client-side rate limits, shared by every call of the process.

The deck sets ``rpm``, ``tpm`` and ``max_concurrency`` on a backend (``backends.toml``)
and optionally on one model (``backends/<backend>.toml``); a call goes through the
backend's :class:`RateLimiter` and, if the model has limits of its own, the model's too.
There is one limiter per backend (and model) per process, whichever Session, event loop
or thread the call comes from, so a batch, a ``%%llm`` cell and a script thread share it.

* ``rpm``: requests are spaced ``60/rpm`` seconds apart (no burst), so no window of
  ``w`` seconds holds more than ``w * rpm / 60 + 1`` requests.
* ``tpm``: each request spends its estimated tokens (prompt estimate + ``max_tokens``),
  corrected by the real usage once the answer is in; up to one second's worth may go
  at once.
* ``max_concurrency``: requests in flight at once.
* a 429 pauses every caller of the backend for its ``Retry-After`` (or a backoff), then
  the request is sent again: a burst of 429s slows everyone down instead of failing rows.
  Each 429 is still logged as an attempt (``on_throttled``); a call gives up on them after
  the retry policy's ``total_budget_s``, or at once if Retry-After is longer than
  ``max_retry_after_s`` (the engine then moves to the next candidate).

A synchronous call reads its answer with no event loop (:mod:`llmdeck_nb.engine.loop`)
only where its limiters set no limit (``LimitedStrategy.blocking_complete``); a wait it
meets all the same (a 429 pause) hands it over to its thread's loop first.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from llmdeck_nb.backends.base import BackendRequest, BackendResponse, BackendStrategy, TextCallback
from llmdeck_nb.engine.loop import needed
from llmdeck_nb.errors import BackendError

if TYPE_CHECKING:
    from llmdeck_nb.deck import Candidate
    from llmdeck_nb.engine.retry import RetryPolicy

ThrottledCallback = Callable[[BackendError, float], None]

#: tpm: how many seconds' worth of tokens may be sent at once
TOKEN_BURST_S = 1.0


class _Slots:
    """A counting semaphore that callers on any event loop (or thread) can share."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._lock = threading.Lock()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()

    async def acquire(self) -> None:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self.free > 0 and not self._waiters:
                self.free -= 1
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
        try:
            await future
        except asyncio.CancelledError:
            with self._lock:
                try:
                    self._waiters.remove((loop, future))
                    granted = False
                except ValueError:  # the slot was handed over meanwhile: pass it on
                    granted = True
            if granted:
                self.release()
            raise

    def release(self) -> None:
        with self._lock:
            if not self._waiters:
                self.free += 1
                return
            loop, future = self._waiters.popleft()
        loop.call_soon_threadsafe(self._grant, future)

    def _grant(self, future: asyncio.Future[None]) -> None:
        if future.cancelled():
            self.release()
        else:
            future.set_result(None)


class RateLimiter:
    """rpm / tpm / concurrency of one backend (or one model), and its 429 pause."""

    def __init__(self, name: str, rpm: float | None = None, tpm: float | None = None,
                 max_concurrency: int | None = None) -> None:
        self.name = name
        self.rpm, self.tpm, self.max_concurrency = rpm, tpm, max_concurrency
        self._slots = _Slots(max_concurrency) if max_concurrency else None
        self._lock = threading.Lock()
        self._next_request = 0.0  # monotonic time the next request may start (rpm)
        self._token_debt = 0.0  # monotonic time the tokens sent so far are paid off (tpm)
        self._paused_until = 0.0
        self.throttled = 0  # 429s seen
        self.paced = bool(rpm or tpm or max_concurrency)  # may make a request wait

    def __repr__(self) -> str:
        return (f"RateLimiter({self.name!r}, rpm={self.rpm}, tpm={self.tpm}, "
                f"max_concurrency={self.max_concurrency})")

    async def acquire(self, tokens: int) -> None:
        """Wait for a slot and for the pace; then the request may go."""
        if self._slots is not None:
            await self._slots.acquire()
        try:
            while True:
                wait = self._take(tokens)
                if wait <= 0:
                    return
                await needed()
                await asyncio.sleep(wait)
        except BaseException:
            self.release()
            raise

    def _take(self, tokens: int) -> float:
        """Seconds to wait, or 0 after booking the request (one lock, no await)."""
        with self._lock:
            now = time.monotonic()
            wait = self._paused_until - now
            if self.rpm:
                wait = max(wait, self._next_request - now)
            if self.tpm:
                wait = max(wait, self._token_debt - TOKEN_BURST_S - now)
            if wait > 0:
                return wait
            if self.rpm:
                self._next_request = max(self._next_request, now) + 60.0 / self.rpm
            if self.tpm:
                self._token_debt = max(self._token_debt, now) + tokens * 60.0 / self.tpm
            return 0.0

    def release(self) -> None:
        if self._slots is not None:
            self._slots.release()

    def used_tokens(self, difference: int) -> None:
        """Correct the tpm account by the real usage minus the estimate."""
        if self.tpm and difference:
            with self._lock:
                self._token_debt += difference * 60.0 / self.tpm

    def pause(self, seconds: float) -> None:
        """Hold every caller back for ``seconds`` (a 429 said so)."""
        with self._lock:
            self.throttled += 1
            self._paused_until = max(self._paused_until, time.monotonic() + seconds)


_limiters: dict[tuple[object, ...], RateLimiter] = {}
_registry_lock = threading.Lock()


def limiters_for(candidate: Candidate) -> list[RateLimiter]:
    """The process-wide limiters a call to ``candidate`` goes through (backend, then model)."""
    backend, spec = candidate.backend, candidate.spec
    backend_key: tuple[object, ...] = (backend.name, backend.endpoints)
    wanted = [(backend_key, backend.name, backend.rate_limits)]
    if any(spec.rate_limits):
        wanted.append(((backend.name, backend.endpoints, spec.name), f"{backend.name}/{spec.name}",
                       spec.rate_limits))
    found = []
    for where, name, limits in wanted:
        key = (*where, *limits)
        limiter = _limiters.get(key)
        if limiter is None:
            with _registry_lock:
                limiter = _limiters.setdefault(key, RateLimiter(name, *limits))
        found.append(limiter)
    return found


class LimitedStrategy(BackendStrategy):
    """A strategy whose requests wait for the limiters, and wait out 429s together."""

    kind = "limited"

    def __init__(self, inner: BackendStrategy, limiters: list[RateLimiter], tokens: int,
                 retry: RetryPolicy, on_throttled: ThrottledCallback) -> None:
        self.inner, self.limiters, self.tokens = inner, limiters, tokens
        self.retry, self.on_throttled = retry, on_throttled
        self.blocking_complete = (inner.blocking_complete
                                  and not any(limiter.paced for limiter in limiters))

    # plain functions handing back _send's coroutine: one coroutine frame fewer for every
    # resumption of the attempt to pass through (the caller awaits it all the same)
    def complete(self, request: BackendRequest) -> Coroutine[Any, Any, BackendResponse]:
        return self._send(lambda: self.inner.complete(request))

    def stream(self, request: BackendRequest,
               on_text: TextCallback) -> Coroutine[Any, Any, BackendResponse]:
        return self._send(lambda: self.inner.stream(request, on_text))

    async def _send(self, attempt: Callable[[], Awaitable[BackendResponse]]) -> BackendResponse:
        first_429: float | None = None
        throttled = 0
        while True:
            for number, limiter in enumerate(self.limiters):
                try:
                    await limiter.acquire(self.tokens)
                except BaseException:
                    for taken in self.limiters[:number]:
                        taken.release()
                    raise
            began = time.perf_counter()
            try:
                response = await attempt()
            except BackendError as exc:
                if exc.status != 429:
                    raise
                throttled += 1
                first_429 = first_429 if first_429 is not None else began
                wait = self.retry.delay(throttled, exc.retry_after)
                for limiter in self.limiters:
                    limiter.pause(wait)
                if ((exc.retry_after is not None and exc.retry_after > self.retry.max_retry_after_s)
                        or time.perf_counter() - first_429 + wait > self.retry.total_budget_s):
                    raise
                self.on_throttled(exc, time.perf_counter() - began)
                continue
            finally:
                for limiter in self.limiters:
                    limiter.release()
            used = (response.input_tokens or 0) + (response.output_tokens or 0)
            for limiter in self.limiters:
                limiter.used_tokens(used - self.tokens if used else 0)
            return response


__all__ = ["LimitedStrategy", "RateLimiter", "limiters_for"]
