"""One runtime for every background loop of a process.

Outbox relays, sweeps, reconcilers, purges, notification dispatch, SQS consumers and the work
queue's worker all run as a `Loop` with a name, one of two kinds:

- periodic: `step()` runs every `interval` seconds. A step that returns True has more work
  waiting and runs again at once; a `wake` event (LISTEN/NOTIFY, say) cuts the wait short.
- continuous: `run()` runs for the life of the process (a consumer, the worker) and is
  started again if it fails or returns.

One failure policy for all of them: an exception is logged, counted in
`background_loop_errors_total{loop, kind}`, and the step is retried after an exponential
backoff with jitter; a loop never dies. An outage of a dependency (`kind="dependency"`: the
database, a broker) is expected and leaves the loop healthy, since the dependency's own
readiness check tells. Any other error (`kind="bug"`: a programming error, a violated
constraint) is retried too, but marks the loop unhealthy, with its last error, until a step
succeeds again (for a continuous loop: until it has run `recover_after` seconds).

`stop()` interrupts a wait at once and lets the current step finish (up to `stop_timeout`),
then cancels it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from prometheus_client import Counter, Gauge

from shared.errors import DependencyUnavailable
from shared.logging import get_logger
from shared.retry import backoff_delay
from shared.storage.pool import is_transient

log = get_logger(__name__)

LOOP_ERRORS = Counter(
    "background_loop_errors_total", "Failed steps of background loops", ["loop", "kind"]
)
LOOP_HEALTHY = Gauge("background_loop_healthy", "1 while a background loop is healthy", ["loop"])
LOOP_LAST_SUCCESS = Gauge(
    "background_loop_last_success_timestamp_seconds",
    "Unix time of a background loop's last successful step",
    ["loop"],
)

Step = Callable[[], Awaitable[bool | None]]
Run = Callable[[], Awaitable[None]]
Classifier = Callable[[BaseException], bool]


def is_dependency_error(exc: BaseException) -> bool:
    """True for the errors an outage raises (the database down or read-only, a lost race
    with another transaction, a socket, a timeout, a broker): the next try may well succeed."""
    return is_transient(exc) or isinstance(exc, DependencyUnavailable)


@dataclass
class LoopStatus:
    healthy: bool = True
    last_error: str | None = None
    failures: int = 0


class Loop:
    """A named background loop; build one with `Loop.periodic` or `Loop.continuous`."""

    def __init__(
        self,
        name: str,
        body: Callable[[], Awaitable[bool | None]],
        *,
        continuous: bool,
        interval: float = 1.0,
        wake: asyncio.Event | None = None,
        start_when: Callable[[], Awaitable[object]] | None = None,
        on_stop: Callable[[], Awaitable[None]] | None = None,
        dependency_error: Classifier = is_dependency_error,
        backoff_base: float = 0.5,
        backoff_cap: float = 5.0,
        stop_timeout: float = 10.0,
        recover_after: float = 10.0,
    ) -> None:
        self.name = name
        self._body = body
        self.is_continuous = continuous
        self.interval = interval
        self._wake = wake
        self._start_when = start_when
        self._on_stop = on_stop
        self._dependency_error = dependency_error
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.stop_timeout = stop_timeout
        self.recover_after = recover_after
        self.status = LoopStatus()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._running_since: float | None = None
        LOOP_HEALTHY.labels(name).set(1)

    @classmethod
    def periodic(
        cls,
        name: str,
        step: Step,
        *,
        interval: float,
        wake: asyncio.Event | None = None,
        **options: Any,
    ) -> Loop:
        """`step()` every `interval` seconds, at once again while it returns True."""
        return cls(name, step, continuous=False, interval=interval, wake=wake, **options)

    @classmethod
    def continuous(cls, name: str, run: Run, **options: Any) -> Loop:
        """`run()` for the process's life; started again after a failure or a return."""

        async def body() -> None:
            await run()

        return cls(name, body, continuous=True, **options)

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def start(self) -> None:
        self._task = asyncio.create_task(self._main(), name=f"loop:{self.name}")

    async def stop(self) -> None:
        """Stop: no new step; the current one may finish within `stop_timeout`."""
        self._stopping.set()
        if self._task is None:
            return
        if self._on_stop is not None:
            with contextlib.suppress(Exception):
                await self._on_stop()
        elif self.is_continuous:
            self._task.cancel()  # a continuous body shuts itself down on cancellation
        done, _ = await asyncio.wait({self._task}, timeout=self.stop_timeout)
        if not done:
            log.error("background loop did not stop in time; cancelled", loop=self.name)
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def check(self) -> None:
        """Readiness: raise with the last error while the loop is unhealthy."""
        if self._task is not None and self._task.done() and not self._stopping.is_set():
            raise RuntimeError(f"background loop {self.name} has stopped")
        if not self.status.healthy:
            raise RuntimeError(f"background loop {self.name} failing: {self.status.last_error}")

    def _recovered(self, since: float) -> None:
        """A continuous body that has run `recover_after` seconds since a failure is healthy."""
        if not self.status.healthy and self._running_since == since:
            self._mark_success()

    async def _main(self) -> None:
        if self._start_when is not None:
            await self._until_stopped(self._start_when())
        while not self._stopping.is_set():
            self._running_since = since = time.monotonic()
            if self.is_continuous and not self.status.healthy:
                asyncio.get_running_loop().call_later(self.recover_after, self._recovered, since)
            try:
                more = await self._body()
            except asyncio.CancelledError:
                if self._stopping.is_set():
                    return
                raise
            except Exception as exc:
                self._running_since = None
                await self._pause(self._failed(exc))
                continue
            if self.is_continuous:
                if not self._stopping.is_set():
                    log.warning("background loop returned; starting it again", loop=self.name)
                    await self._pause(self.backoff_base)
                continue
            self._mark_success()
            if not more:
                await self._pause(self.interval, wake=self._wake)

    def _failed(self, exc: Exception) -> float:
        self.status.failures += 1
        dependency = self._dependency_error(exc)
        kind = "dependency" if dependency else "bug"
        LOOP_ERRORS.labels(self.name, kind).inc()
        delay = backoff_delay(self.status.failures, base=self.backoff_base, cap=self.backoff_cap)
        error = f"{type(exc).__name__}: {exc}"[:500]
        self.status.last_error = error
        if dependency:
            log.warning(
                "background step failed, dependency unavailable",
                loop=self.name,
                error=error,
                retry_in=round(delay, 2),
            )
        else:
            first = self.status.healthy
            self.status.healthy = False
            LOOP_HEALTHY.labels(self.name).set(0)
            # The stack once per streak of failures; later lines stay short.
            log.error(
                "background step failed",
                loop=self.name,
                error=error,
                retry_in=round(delay, 2),
                exc_info=exc if first else None,
            )
        return delay

    def _mark_success(self) -> None:
        if not self.status.healthy:
            log.info("background loop healthy again", loop=self.name)
        self.status = LoopStatus()
        LOOP_HEALTHY.labels(self.name).set(1)
        LOOP_LAST_SUCCESS.labels(self.name).set(time.time())

    async def _pause(self, seconds: float, *, wake: asyncio.Event | None = None) -> None:
        """Sleep up to `seconds`, cut short by `stop()` or by `wake`."""
        waiters = [asyncio.ensure_future(self._stopping.wait())]
        if wake is not None:
            waiters.append(asyncio.ensure_future(wake.wait()))
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in waiters:
                waiter.cancel()
        if wake is not None:
            wake.clear()

    async def _until_stopped(self, awaitable: Awaitable[object]) -> None:
        waiting = asyncio.ensure_future(awaitable)
        stopping = asyncio.ensure_future(self._stopping.wait())
        try:
            await asyncio.wait({waiting, stopping}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiting.cancel()
            stopping.cancel()
