"""The worker: claims jobs in batches, runs them with bounded concurrency, settles in batches.

At-least-once: a job is acknowledged only after its handler returned. A handler that raises
is retried after an exponential backoff with jitter until its type's max attempts, then
moved to the failed set with its error, traceback and attempt history. While jobs run, a
heartbeat extends their visibility every third of the timeout, so only a dead worker's jobs
are recovered. `stop()` stops taking jobs, waits for the running ones up to the grace
period, then cancels them (they are retried later: a cancelled attempt is not a failure).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import traceback

import structlog

from shared.logging import get_logger
from shared.retry import backoff_delay
from shared.workqueue import history, metrics
from shared.workqueue.base import (
    Job,
    Outcome,
    QueueUnavailable,
    RateLimit,
    RetryPolicy,
    WorkQueue,
    claims_in_flight,
)
from shared.workqueue.deadline import DeadlineExceeded, JobHandler, call_within
from shared.workqueue.scheduler import run_schedules

log = get_logger(__name__)

IDLE_WAIT = 1.0
JOURNAL_FLUSH = 2.0  # seconds a stopping worker waits for its job events to be stored


class PermanentError(Exception):
    """Raised by a handler for a job that can never succeed: no more attempts."""


class Worker:
    def __init__(
        self,
        queue: WorkQueue,
        handlers: dict[str, JobHandler],
        *,
        concurrency: int = 32,
        retry: dict[str, RetryPolicy] | None = None,
        default_retry: RetryPolicy | None = None,
        heartbeat: float = 10.0,
        shutdown_grace: float = 20.0,
        deadlines: dict[str, float] | None = None,
        default_deadline: float | None = None,
        rate_limit: RateLimit | None = None,
        group_limit: int = 0,
        schedules: bool = True,
        job_events: bool = True,
    ) -> None:
        self.queue = queue
        self.handlers = handlers
        self.concurrency = concurrency
        self.retry = retry or {}
        self.default_retry = default_retry or RetryPolicy()
        self.heartbeat = heartbeat
        self.shutdown_grace = shutdown_grace
        self.deadlines = deadlines or {}
        self.default_deadline = default_deadline
        self.rate_limit = rate_limit
        self.group_limit = group_limit  # running jobs per NewJob.group, across workers (0: any)
        self.schedules = schedules
        self._seen_paused = False
        self._running: dict[asyncio.Task[None], Job] = {}
        self._outcomes: list[Outcome] = []
        self._outcome_ready = asyncio.Event()
        self._slot_free = asyncio.Event()
        self._reserved = 0  # slots asked for by claims in flight
        self._stopping = asyncio.Event()
        self.processed = 0
        self.journal = history.journal_for(queue)  # the jobs' events, for the console
        # False: only the console's per-minute counters are kept, no job's events (a job's
        # page shows its stored attempts but not who claimed it; the active list no worker).
        self.job_events = job_events

    def policy(self, job_type: str) -> RetryPolicy:
        return self.retry.get(job_type, self.default_retry)

    def deadline(self, job_type: str) -> float | None:
        """Seconds an attempt of this type may run before it is cancelled (None: no limit)."""
        return self.deadlines.get(job_type, self.default_deadline)

    async def run(self) -> None:
        """Work until `stop()` (or cancellation); broker outages are waited out."""
        settler = asyncio.create_task(self._settle_loop(), name="workqueue-settle")
        loops = [asyncio.create_task(self._heartbeat_loop(), name="workqueue-heartbeat")]
        if self.schedules:
            ticks = run_schedules(self.queue, self._stopping)
            loops.append(asyncio.create_task(ticks, name="workqueue-schedules"))
        try:
            await self._claim_loop()
            with contextlib.suppress(QueueUnavailable):
                await self.queue.stop_claiming()
            await self._drain()
        finally:
            for loop in loops:
                loop.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            self._stopping.set()
            self._outcome_ready.set()
            await asyncio.gather(settler, return_exceptions=True)
            await self._flush_outcomes(final=True)
            with contextlib.suppress(TimeoutError):  # events are for people: wait briefly
                await asyncio.wait_for(self.journal.flush(), JOURNAL_FLUSH)

    async def stop(self) -> None:
        """Stop taking jobs; `run()` returns once running jobs finished or the grace passed."""
        self._stopping.set()
        self._slot_free.set()

    async def _claim_loop(self) -> None:
        """Claim as slots free up. A backend that allows it (Redis) has two claims in flight,
        each for at most half the concurrency: the jobs of one run while the broker works on
        the other, instead of the worker waiting on every claim with nothing to do."""
        claimers = claims_in_flight(self.queue)
        share = -(-self.concurrency // claimers)  # ceil: one claimer may take them all
        await asyncio.gather(*(self._claimer(share) for _ in range(claimers)))

    async def _claimer(self, share: int) -> None:
        failures = 0
        while not self._stopping.is_set():
            free = min(share, self.concurrency - len(self._running) - self._reserved)
            if free <= 0:
                self._slot_free.clear()
                await self._slot_free.wait()
                continue
            self._reserved += free
            try:
                jobs = await self._claim(free)
                if jobs is None:  # the broker failed; backed off
                    failures += 1
                    await self._back_off(failures)
                    continue
                failures = 0
                if self._stopping.is_set() and jobs:
                    # Unreleased jobs come back after the visibility timeout: nothing is lost.
                    with contextlib.suppress(QueueUnavailable):
                        await self.queue.release(jobs)
                    break
                await self.journal.claimed(jobs, self.deadline, events=self.job_events)
                for job in jobs:
                    task = asyncio.create_task(self._run_job(job))
                    self._running[task] = job
                    task.add_done_callback(self._job_done)
            finally:
                self._reserved -= free
                self._slot_free.set()  # what this claim did not fill is free for the other

    async def _claim(self, count: int) -> list[Job] | None:
        """Up to `count` jobs, or None when the broker failed (logged and counted)."""
        try:
            jobs = await self.queue.claim(
                count, IDLE_WAIT, limit=self.rate_limit, group_limit=self.group_limit
            )
        except Exception as exc:  # the loop outlives any broker trouble
            metrics.WORKER_RECONNECTS.labels(self.queue.name).inc()
            if isinstance(exc, QueueUnavailable):
                log.warning("work queue unavailable, retrying", error=str(exc))
            else:
                log.exception("claiming jobs failed, retrying")
            return None
        self._note_pause()
        return jobs

    async def _back_off(self, failures: int) -> None:
        with contextlib.suppress(TimeoutError):
            delay = backoff_delay(failures, base=0.05, cap=2.0)
            await asyncio.wait_for(self._stopping.wait(), delay)

    def _note_pause(self) -> None:
        if self.queue.paused != self._seen_paused:
            self._seen_paused = self.queue.paused
            log.warning(
                "work queue paused: taking no jobs" if self._seen_paused else "work queue resumed"
            )
            metrics.QUEUE_PAUSED.labels(self.queue.name).set(int(self._seen_paused))

    def _job_done(self, task: asyncio.Task[None]) -> None:
        self._running.pop(task, None)
        self._slot_free.set()

    async def _drain(self) -> None:
        if not self._running:
            return
        _, pending = await asyncio.wait(list(self._running), timeout=self.shutdown_grace)
        if pending:
            log.warning("cancelling jobs still running after the grace period", jobs=len(pending))
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)

    async def _run_job(self, job: Job) -> None:
        meters = metrics.job_meters(self.queue.name, job.type)
        if job.attempt == 1:
            meters.wait.observe(max(0.0, time.time() - job.enqueued_at))
        policy = self.policy(job.type)
        # Every log line of the attempt names the job. The task runs in a copy of the claim
        # loop's context, so nothing needs unbinding (bound_context would cost 10x as much).
        structlog.contextvars.bind_contextvars(
            job_id=job.id, job_type=job.type, attempt=job.attempt
        )
        started = time.perf_counter()
        try:
            if job.attempt > policy.max_attempts:
                raise PermanentError(f"attempts exhausted ({job.attempt - 1} claims)")
            handler = self.handlers.get(job.type)
            if handler is None:
                raise PermanentError(f"no handler for job type {job.type!r}")
            await call_within(handler, job, self.deadline(job.type))
        except asyncio.CancelledError:
            return  # shutdown: the claim expires or is released; not an attempt failure
        except Exception as exc:
            self._record_failure(job, exc, policy)
        else:
            self._push(Outcome(job, "completed"))
            meters.completed.inc()
        finally:
            meters.duration.observe(time.perf_counter() - started)
            self.processed += 1

    def _record_failure(self, job: Job, exc: Exception, policy: RetryPolicy) -> None:
        error = f"{type(exc).__name__}: {exc}"
        trace = "".join(traceback.format_exception(exc))[-8000:]
        metrics.JOB_FAILURES.labels(job.type, type(exc).__name__).inc()
        hung = isinstance(exc, DeadlineExceeded)
        final = isinstance(exc, PermanentError) or job.attempt >= policy.max_attempts
        if final:
            log.warning("job failed for good", error=error, hung=hung)
            self._push(Outcome(job, "failed", error=error, traceback=trace, hung=hung))
        else:
            delay = policy.delay(job.attempt)
            log.info("job failed, will retry", error=error, retry_in=round(delay, 3), hung=hung)
            self._push(Outcome(job, "retry", delay, error, trace, hung=hung))
        # One outcome per attempt: a hung attempt is counted as `hung`, whatever comes next.
        outcome = "hung" if hung else "failed" if final else "retry"
        metrics.JOBS_PROCESSED.labels(self.queue.name, job.type, outcome).inc()

    def _push(self, outcome: Outcome) -> None:
        self._outcomes.append(outcome)
        self._outcome_ready.set()

    async def _settle_loop(self) -> None:
        """Settle outcomes in batches: everything finished since the last round trip."""
        while not self._stopping.is_set() or self._running:
            await self._outcome_ready.wait()
            self._outcome_ready.clear()
            await self._flush_outcomes()

    async def _flush_outcomes(self, *, final: bool = False) -> None:
        failures = 0
        deadline = time.monotonic() + self.shutdown_grace
        while self._outcomes:
            batch, self._outcomes = self._outcomes[:500], self._outcomes[500:]
            try:
                await asyncio.shield(self.queue.settle(batch))
                failures = 0
                await self.journal.settled(batch, events=self.job_events)
            except Exception as exc:
                self._outcomes[:0] = batch
                failures += 1
                if final and time.monotonic() > deadline:
                    log.error("could not settle jobs; they will run again", jobs=len(batch))
                    return
                log.warning("could not settle jobs, retrying", error=repr(exc))
                await asyncio.sleep(backoff_delay(failures, base=0.05, cap=2.0))

    async def _heartbeat_loop(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            jobs = list(self._running.values())
            try:
                await self.queue.extend(jobs)
            except Exception as exc:
                log.warning("visibility heartbeat failed", error=repr(exc))
