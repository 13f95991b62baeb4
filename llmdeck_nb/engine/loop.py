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

A call made from inside a call (a listener or ``on_text`` callback that calls the
session) runs on a second loop of the thread, the busy one set aside the same way.
:func:`submit` runs a coroutine on a background loop thread instead (a batch that the
caller can interrupt while it goes on).
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
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
