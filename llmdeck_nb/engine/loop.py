"""A private event loop on a daemon thread, so synchronous calls work inside Jupyter.

A notebook kernel already runs an event loop on its main thread, so ``asyncio.run`` is
not allowed there. Synchronous ``Session.complete`` submits its coroutine to this loop;
its HTTP connection pools live on this loop and are reused call after call.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            _loop = asyncio.new_event_loop()
            thread = threading.Thread(target=_loop.run_forever, name="llmdeck-loop", daemon=True)
            thread.start()
        return _loop


def submit(coroutine: Coroutine[Any, Any, T]) -> Future[T]:
    return asyncio.run_coroutine_threadsafe(coroutine, background_loop())


def run(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run ``coroutine`` to completion from synchronous code (in or out of a notebook)."""
    return submit(coroutine).result()
