"""Prometheus metrics of the work queue (one registry per process)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from prometheus_client import Counter, Gauge, Histogram

JOBS_BY_STATE = Gauge("workqueue_jobs", "Jobs by state", ["queue", "state"])
JOBS_PROCESSED = Counter(
    "workqueue_jobs_processed_total",
    "Job attempts by outcome: completed, retry, failed or hung (past its deadline)",
    ["queue", "type", "outcome"],
)
JOB_FAILURES = Counter(
    "workqueue_job_failures_total", "Failed attempts by job and error type", ["type", "error"]
)
JOB_WAIT = Histogram(
    "workqueue_job_wait_seconds",
    "Time from enqueue to the start of the first attempt",
    ["queue", "type"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300),
)
JOB_DURATION = Histogram(
    "workqueue_job_duration_seconds",
    "Processing time of one attempt",
    ["queue", "type"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
WORKER_RECONNECTS = Counter(
    "workqueue_broker_errors_total", "Broker errors seen by the worker loop", ["queue"]
)
QUEUE_PAUSED = Gauge("workqueue_paused", "1 while the worker finds its queue paused", ["queue"])
JOBS_SCHEDULED = Counter(
    "workqueue_jobs_scheduled_total", "Jobs enqueued by schedule ticks (one per tick)", ["queue"]
)


@dataclass(frozen=True)
class JobMeters:
    """The labelled metrics a worker touches for every job of one type (labels() looks the
    child up under a lock each time; a worker running thousands of jobs a second keeps them)."""

    wait: Any
    duration: Any
    completed: Any


@cache
def job_meters(queue: str, job_type: str) -> JobMeters:
    return JobMeters(
        JOB_WAIT.labels(queue, job_type),
        JOB_DURATION.labels(queue, job_type),
        JOBS_PROCESSED.labels(queue, job_type, "completed"),
    )
