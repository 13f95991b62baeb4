"""Identical calls in flight at the same time, within one process, go out once.

Two cells of a notebook (or an ``asyncio.gather``) asking the same thing of the same
model at the same moment would both pay. :func:`first_or_wait` lets the first call go
ahead; the others wait for it to finish and then read the answer from the response cache
(logged as a cache hit). If the first call failed, the others try on their own.
Calls are grouped by their cache key, per event loop (synchronous calls all run on the
engine's background loop, so they share it).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

_running: dict[tuple[asyncio.AbstractEventLoop, str], asyncio.Event] = {}


@asynccontextmanager
async def first_or_wait(key: str) -> AsyncIterator[bool]:
    """Yields False to the first call with ``key``; later ones wait for it, then get True."""
    slot = (asyncio.get_running_loop(), key)
    running = _running.get(slot)
    if running is not None:
        await running.wait()
        yield True
        return
    done = _running[slot] = asyncio.Event()
    try:
        yield False
    finally:
        del _running[slot]
        done.set()


__all__ = ["first_or_wait"]
