"""Identical calls in flight at the same time, within one process, go out once.

Two cells of a notebook (or an ``asyncio.gather``, or two threads calling
``Session.complete``) asking the same thing of the same model at the same moment would
both pay. :func:`first_or_wait` lets the first call go ahead; the others wait for it to
finish and then read the answer from the response cache (logged as a cache hit). If the
first call failed, the others try on their own. Calls are grouped by their cache key
across the process's event loops (each thread runs its synchronous calls on a loop of its
own, see :mod:`llmdeck_nb.engine.loop`); a call made from inside the first one, on the
same thread, goes ahead instead of waiting for the call it is part of. A synchronous call
driven with no loop at all blocks its thread until it is done, so every other call on that
thread meanwhile is one made from inside it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from concurrent.futures import Future
from contextlib import asynccontextmanager

from llmdeck_nb.engine.loop import needed, running_loop

_lock = threading.Lock()
# cache key -> (loop, None when driven with no loop; thread id; done) of the call in flight
_running: dict[str, tuple[asyncio.AbstractEventLoop | None, int, Future[None]]] = {}


@asynccontextmanager
async def first_or_wait(key: str) -> AsyncIterator[bool]:
    """Yields False to the first call with ``key``; later ones wait for it, then get True."""
    loop, thread = running_loop(), threading.get_ident()
    with _lock:
        running = _running.get(key)
        nested = (running is not None and running[1] == thread
                  and (running[0] is not loop or loop is None))
        if running is None or nested:
            done: Future[None] = Future()
            previous, _running[key] = running, (loop, thread, done)
    if running is not None and not nested:
        await needed()
        await asyncio.wrap_future(running[2])  # thread-safe: wakes this loop from another
        yield True
        return
    try:
        yield False
    finally:
        with _lock:
            if previous is None:
                del _running[key]
            else:
                _running[key] = previous
        done.set_result(None)


__all__ = ["first_or_wait"]
