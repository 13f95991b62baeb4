"""Running the engine's coroutines from synchronous code, in or out of a notebook.

:func:`run` runs a coroutine to completion on the *calling* thread, on an event loop of
that thread's own (kept for the next call, so connection pools are reused). A notebook
kernel already runs a loop on its main thread, which forbids ``asyncio.run``; that loop
is waiting for the cell anyway, so :func:`run` sets it aside for the duration of the call
and puts it back after. No thread hand-off: on a busy machine each hand-off to a
background thread and back costs a scheduler wake-up or two (milliseconds under load).

``run(..., blocking_io=True)`` (one call, nothing else to wait for) lets strategies do
their I/O blocking on this thread (see :data:`llmdeck_nb.backends.base.BLOCKING_IO`):
no event-loop round trip per socket read.

:func:`run_eager` goes further for a coroutine that often finishes without waiting (a
synchronous call answered from the cache, or sent with blocking I/O): it runs the coroutine
on the calling thread with no event loop at all, up to ``await needed()``, and only the
rest on the thread's loop. A step that would block the thread anyway (a strategy's blocking
I/O) goes on without a loop: :func:`driven_eagerly` tells it so; each step that must
wait on a loop (a sleep, another call's answer) awaits ``needed()`` first.

A call made from inside a call (a listener or ``on_text`` callback that calls the
session) runs on a second loop of the thread, the busy one set aside the same way.
:func:`submit` runs a coroutine on a background loop thread instead (a batch that the
caller can interrupt while it goes on), and :func:`wait` waits for its result so that a
KeyboardInterrupt always reaches the waiting thread.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine, Generator
from concurrent.futures import Future
from contextlib import suppress
from typing import Any, TypeVar

from llmdeck_nb.backends.base import BLOCKING_IO

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None  # the background loop (submit)
_local = threading.local()  # .loops: this thread's own loops
_thread_loops: list[asyncio.AbstractEventLoop] = []  # see _abandon_pending_tasks


def background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            thread = threading.Thread(target=_loop.run_forever, name="llmdeck-loop", daemon=True)
            thread.start()
        return _loop


def submit(coroutine: Coroutine[Any, Any, T]) -> Future[T]:
    """Run ``coroutine`` on the background loop thread; its result as a Future."""
    return asyncio.run_coroutine_threadsafe(coroutine, background_loop())


#: how long :func:`wait` blocks at a time: the longest a KeyboardInterrupt can go unseen
WAKE_S = 0.1


def wait(future: Future[T]) -> T:
    """``future.result()``, woken every :data:`WAKE_S` so that a KeyboardInterrupt raises here.

    A signal wakes a blocked lock wait only if it lands *during* the wait, on this thread.
    One that lands just before the thread blocks (it is handled at the next bytecode, which
    comes after the wait), or on another thread (a process-wide SIGINT), would otherwise be
    seen only when the future is done: a stopped batch would run to the end.
    """
    while True:
        try:  # exception(), not result(): a TimeoutError the coroutine raised is not a timeout
            future.exception(timeout=WAKE_S)
        except TimeoutError:
            continue
        return future.result()


def _thread_loop() -> asyncio.AbstractEventLoop:
    """This thread's first idle loop; a new one when all are busy (a call inside a call)."""
    loops: list[asyncio.AbstractEventLoop] = _local.__dict__.setdefault("loops", [])
    for loop in loops:
        if not loop.is_running() and not loop.is_closed():
            return loop
    loop = asyncio.new_event_loop()
    loops.append(loop)
    with _lock:
        _thread_loops[:] = [lp for lp in _thread_loops if not lp.is_closed()]
        _thread_loops.append(loop)
    return loop


def run(coroutine: Coroutine[Any, Any, T], *, blocking_io: bool = False) -> T:
    """Run ``coroutine`` to completion from synchronous code, on this thread."""
    loop = _thread_loop()
    outer = asyncio.events._get_running_loop()
    token = BLOCKING_IO.set(blocking_io)
    task = loop.create_task(coroutine)  # copies the context: BLOCKING_IO as set here
    BLOCKING_IO.reset(token)
    asyncio.events._set_running_loop(None)  # the kernel's loop (or ours), if any, waits meanwhile
    try:
        return loop.run_until_complete(task)
    except BaseException:
        if not task.done():  # interrupted (KeyboardInterrupt): do not leave the call running
            task.cancel()
            with suppress(BaseException):
                loop.run_until_complete(task)
        raise
    finally:
        asyncio.events._set_running_loop(outer)


class _LoopNeeded:
    """What ``await needed()`` yields to :func:`run_eager` (and nothing on a running loop)."""

    __slots__ = ()

    def __await__(self) -> Generator[_LoopNeeded, None, None]:
        if asyncio.events._get_running_loop() is None:  # driven by run_eager: hand over
            yield self


_LOOP_NEEDED = _LoopNeeded()


def needed() -> _LoopNeeded:
    """``await needed()`` before the first step of a coroutine that needs an event loop
    (a future, a sleep, a timeout, async I/O): where :func:`run_eager` hands it to one."""
    return _LOOP_NEEDED


class _Resumed:
    """The rest of a coroutine that :func:`run_eager` started: awaited on a loop, it goes on
    from where the coroutine stopped (a plain ``await`` refuses a coroutine part-way run)."""

    __slots__ = ("coroutine",)

    def __init__(self, coroutine: Coroutine[Any, Any, T]) -> None:
        self.coroutine = coroutine

    def __await__(self) -> Generator[Any, Any, Any]:
        coroutine = self.coroutine
        step: Any = coroutine.send
        value: Any = None
        while True:
            try:
                yielded = step(value)
            except StopIteration as done:
                return done.value
            try:
                value, step = (yield yielded), coroutine.send
            except GeneratorExit:
                coroutine.close()
                raise
            except BaseException as exc:  # noqa: BLE001 - a cancellation: into the coroutine
                value, step = exc, coroutine.throw


async def _rest(coroutine: Coroutine[Any, Any, T]) -> T:
    result: T = await _Resumed(coroutine)
    return result


def driven_eagerly() -> bool:
    """True while :func:`run_eager` drives the calling coroutine with no event loop (before
    ``await needed()``): its next step runs on this thread, blocking it, with no loop, timer
    or other task beside it."""
    return running_loop() is None


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop running on this thread; None while :func:`run_eager` drives a call."""
    return asyncio.events._get_running_loop()


def run_eager(coroutine: Coroutine[Any, Any, T], *, blocking_io: bool = False) -> T:
    """:func:`run`, but the coroutine first runs on this thread without an event loop, up to
    ``await needed()``; if it finishes before (a cache hit, or an answer read with blocking
    I/O: ``blocking_io`` sets :data:`BLOCKING_IO` meanwhile too), no loop is involved at all."""
    outer = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)  # as in run(): the kernel's loop waits meanwhile
    token = BLOCKING_IO.set(blocking_io)
    try:
        yielded = coroutine.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    finally:
        BLOCKING_IO.reset(token)
        asyncio.events._set_running_loop(outer)
    if yielded is not _LOOP_NEEDED:
        coroutine.close()
        raise RuntimeError(
            f"run_eager: the coroutine waited on {yielded!r} before `await needed()`")
    return run(_rest(coroutine), blocking_io=blocking_io)


@atexit.register
def _abandon_pending_tasks() -> None:
    """At exit, tasks that libraries left pending on a thread loop (litellm's logging
    worker...) are dropped quietly, as they were on the background thread's loop; running
    them to a cancelled end makes some of them log errors on the way out."""
    with _lock:
        loops = list(_thread_loops)
    for loop in loops:
        if not loop.is_closed():
            for task in asyncio.all_tasks(loop):
                task._log_destroy_pending = False  # type: ignore[attr-defined]
