"""engine.loop.run_eager: a synchronous call that needs no event loop (a cache hit) gets
none; the rest of one that does runs on the thread's loop, as engine.loop.run does."""

import asyncio

import pytest

from llmdeck_nb.engine import loop


async def answered_at_once(seen: list[object]) -> str:
    seen.append(asyncio.events._get_running_loop())
    return "from the cache"


async def sent(seen: list[object]) -> str:
    await loop.needed()
    seen.append(asyncio.get_running_loop())
    await asyncio.sleep(0.01)  # a real wait on the loop
    return "from the server"


async def failing() -> None:
    await loop.needed()
    await asyncio.sleep(0)
    raise ValueError("the server said no")


def test_a_coroutine_that_does_not_wait_runs_without_any_event_loop():
    seen: list[object] = []
    assert loop.run_eager(answered_at_once(seen)) == "from the cache"
    assert seen == [None]


def test_after_needed_the_coroutine_goes_on_on_the_threads_loop():
    seen: list[object] = []
    assert loop.run_eager(sent(seen)) == "from the server"
    assert isinstance(seen[0], asyncio.AbstractEventLoop)
    assert loop.run_eager(sent(seen)) == "from the server"
    assert seen[1] is seen[0]  # kept for the next call (its connection pools with it)


def test_errors_raised_after_the_hand_over_reach_the_caller_unchanged():
    with pytest.raises(ValueError, match="the server said no"):
        loop.run_eager(failing())


def test_inside_a_running_loop_both_paths_leave_that_loop_running():
    # as in a notebook kernel: its loop runs while the cell makes a synchronous call
    async def cell() -> None:
        kernel = asyncio.get_running_loop()
        seen: list[object] = []
        assert loop.run_eager(answered_at_once(seen)) == "from the cache"
        assert asyncio.get_running_loop() is kernel
        assert loop.run_eager(sent(seen)) == "from the server"
        assert asyncio.get_running_loop() is kernel and seen[1] is not kernel
        await asyncio.sleep(0)  # the kernel's loop still works

    asyncio.run(cell())


def test_waiting_before_needed_is_a_clear_error_not_a_hang():
    async def waits_too_early() -> None:
        await asyncio.sleep(0)

    with pytest.raises(RuntimeError, match="before `await needed\\(\\)`"):
        loop.run_eager(waits_too_early())


def test_on_a_running_loop_needed_is_a_no_op():
    async def awaited_normally() -> str:
        await loop.needed()
        return "done"

    assert asyncio.run(awaited_normally()) == "done"


def test_wait_returns_a_background_result_and_raises_its_own_timeout_error():
    """loop.wait polls in WAKE_S slices; a TimeoutError the coroutine raises is its error,
    raised to the caller, not a slice running out (which would make wait loop forever)."""
    async def slow(answer: str) -> str:
        await asyncio.sleep(3 * loop.WAKE_S)
        return answer

    async def timing_out() -> None:
        await asyncio.sleep(3 * loop.WAKE_S)
        raise TimeoutError("the provider's own timeout")

    assert loop.wait(loop.submit(slow("done"))) == "done"
    with pytest.raises(TimeoutError, match="provider's own"):
        loop.wait(loop.submit(timing_out()))


def test_a_blocking_coroutine_driven_without_a_loop_is_told_so():
    # what lets a synchronous call read its answer with blocking I/O and no loop at all
    from llmdeck_nb.backends.base import BLOCKING_IO

    async def reads() -> tuple[bool, bool]:
        return loop.driven_eagerly(), BLOCKING_IO.get()

    assert loop.run_eager(reads(), blocking_io=True) == (True, True)
    assert BLOCKING_IO.get() is False  # the caller's context is left as it was
    assert asyncio.run(reads()) == (False, False)
