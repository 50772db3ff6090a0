"""Prometheus metrics shared by every process (one registry per process)."""

from __future__ import annotations

from functools import lru_cache

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests handled", ["route", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds",
    "HTTP request latency",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
DEPENDENCY_UP = Gauge("dependency_up", "1 when a dependency answered its last check", ["name"])


@lru_cache(maxsize=1024)
def http_meters(route: str, method: str, status: str) -> tuple[Counter, Histogram]:
    """The request counter and latency histogram of one (route, method, status), looked up
    once: `labels()` checks the label values and takes a lock on every call, which cost a
    request more than counting it."""
    return HTTP_REQUESTS.labels(route, method, status), HTTP_LATENCY.labels(route, method, status)
