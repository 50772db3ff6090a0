"""The background runtime: one failure policy for every loop (no I/O: steps are fakes)."""

from __future__ import annotations

import asyncio
import time

import pytest
from prometheus_client import REGISTRY

from shared.background import Loop
from tests.support.wait import eventually


def errors(loop: str, kind: str) -> float:
    value = REGISTRY.get_sample_value("background_loop_errors_total", {"loop": loop, "kind": kind})
    return value or 0.0


class Steps:
    """A step that fails as told, then succeeds; counts its calls."""

    def __init__(self, *failures: BaseException) -> None:
        self.failures = list(failures)
        self.calls = 0

    async def __call__(self) -> bool:
        self.calls += 1
        if self.failures:
            raise self.failures.pop(0)
        return False


async def unhealthy(loop: Loop) -> bool:
    try:
        await loop.check()
    except RuntimeError:
        return True
    return False


async def healthy(loop: Loop) -> bool:
    return not await unhealthy(loop)


async def test_a_programming_error_is_retried_marks_the_loop_unhealthy_and_heals() -> None:
    broken = True
    calls = 0

    async def step() -> bool:
        nonlocal calls
        calls += 1
        if broken:
            raise KeyError("missing")
        return False

    loop = Loop.periodic("bug-then-fine", step, interval=0.01, backoff_base=0.01)
    loop.start()
    try:
        await eventually(lambda: _value(calls >= 3), what="the failing step retried")
        with pytest.raises(RuntimeError, match="KeyError: 'missing'"):
            await loop.check()
        broken = False
        await eventually(lambda: healthy(loop), what="the loop healthy again")
        assert errors("bug-then-fine", "bug") >= 3
    finally:
        await loop.stop()


async def test_a_dependency_outage_is_retried_and_leaves_the_loop_healthy() -> None:
    steps = Steps(ConnectionRefusedError("down"), TimeoutError())
    loop = Loop.periodic("outage", steps, interval=0.01, backoff_base=0.01)
    loop.start()
    try:
        await eventually(lambda: _value(steps.calls >= 3), what="the step run again")
        await loop.check()  # healthy throughout: the dependency's own check tells
        assert errors("outage", "dependency") == 2
    finally:
        await loop.stop()


async def test_a_loop_never_dies_however_often_its_step_fails() -> None:
    steps = Steps(*(RuntimeError(f"bug {i}") for i in range(20)))
    loop = Loop.periodic("stubborn", steps, interval=0.01, backoff_base=0.001, backoff_cap=0.005)
    loop.start()
    try:
        await eventually(lambda: _value(steps.calls > 20), what="the step past its failures")
        assert loop.running
        await loop.check()
    finally:
        await loop.stop()


async def test_stop_lets_the_current_step_finish() -> None:
    started, finished = asyncio.Event(), asyncio.Event()

    async def slow_step() -> bool:
        started.set()
        await asyncio.sleep(0.2)
        finished.set()
        return False

    loop = Loop.periodic("slow", slow_step, interval=60.0)
    loop.start()
    await started.wait()
    await loop.stop()
    assert finished.is_set()
    assert not loop.running


async def test_stop_cancels_a_step_that_outlives_the_stop_timeout() -> None:
    started = asyncio.Event()

    async def hung_step() -> bool:
        started.set()
        await asyncio.Event().wait()
        return False

    loop = Loop.periodic("hung", hung_step, interval=60.0, stop_timeout=0.1)
    loop.start()
    await started.wait()
    await asyncio.wait_for(loop.stop(), 2.0)
    assert not loop.running


async def test_stop_ends_a_long_wait_at_once() -> None:
    steps = Steps()
    loop = Loop.periodic("idle", steps, interval=3600.0)
    loop.start()
    await eventually(lambda: _value(steps.calls == 1), what="the first step")
    began = time.monotonic()
    await loop.stop()
    assert time.monotonic() - began < 1.0


async def test_a_step_with_more_work_runs_again_at_once_and_a_wake_cuts_the_wait() -> None:
    backlog = [True, True, False]
    calls = 0

    async def step() -> bool:
        nonlocal calls
        calls += 1
        return backlog.pop(0) if backlog else False

    wake = asyncio.Event()
    loop = Loop.periodic("backlog", step, interval=3600.0, wake=wake)
    loop.start()
    try:
        await eventually(lambda: _value(calls == 3), timeout=2.0, what="the backlog drained")
        wake.set()
        await eventually(lambda: _value(calls == 4), timeout=2.0, what="the woken step")
    finally:
        await loop.stop()


async def test_a_continuous_loop_that_fails_is_started_again_and_heals_after_running() -> None:
    runs = 0

    async def run() -> None:
        nonlocal runs
        runs += 1
        if runs == 1:
            raise ValueError("first run breaks")
        await asyncio.Event().wait()

    loop = Loop.continuous("consumer", run, backoff_base=0.01, recover_after=0.2)
    loop.start()
    try:
        await eventually(lambda: _value(runs == 2), what="the second run")
        assert await unhealthy(loop)
        await eventually(lambda: healthy(loop), what="healthy after running a while")
        assert errors("consumer", "bug") == 1
    finally:
        await asyncio.wait_for(loop.stop(), 2.0)
    assert not loop.running


async def test_a_loop_waits_for_its_start_condition() -> None:
    ready = asyncio.Event()
    steps = Steps()
    loop = Loop.periodic("waits", steps, interval=0.01, start_when=ready.wait)
    loop.start()
    try:
        await asyncio.sleep(0)  # let the loop reach its wait (no step may have run)
        assert steps.calls == 0
        ready.set()
        await eventually(lambda: _value(steps.calls >= 1), what="the first step")
    finally:
        await loop.stop()


async def _value(value: bool) -> bool:
    return value
