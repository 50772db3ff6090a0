"""`make bench` smoke run: every benchmark runs with tiny counts and yields well-formed results,
so the harness never rots. It measures nothing about speed."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import pytest

from tests.bench import __main__ as bench
from tests.bench import (
    bench_http,
    bench_outbox,
    bench_scale,
    bench_sqs,
    bench_workqueue,
    pgbench_peer,
)
from tests.bench.results import Result

NAMES = sorted(p.stem for p in Path(bench.__file__).parent.glob("bench_*.py"))


@pytest.fixture
def tiny_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Shrink every benchmark's counts so the whole run takes seconds."""
    monkeypatch.setattr(bench_http, "RUNS", 1)
    monkeypatch.setattr(bench_http, "SECONDS", 1.0)  # wrk's shortest run
    monkeypatch.setattr(bench_http, "CALIBRATE", False)
    monkeypatch.setattr(bench_http, "SLOTS_PER_RUN", 150)
    monkeypatch.setattr(bench_http, "BROWSE_SLOTS", 20)
    # Every pgbench script runs (a script the schema outgrew fails here), a few times each.
    monkeypatch.setattr(pgbench_peer, "TRANSACTIONS", 5)
    monkeypatch.setattr(pgbench_peer, "SLOTS_PER_CLIENT", 20)
    monkeypatch.setattr(bench_outbox, "ROWS", 20)
    monkeypatch.setattr(bench_sqs, "SECONDS", 1.0)
    monkeypatch.setattr(bench_sqs, "SLOTS", 150)
    monkeypatch.setattr(bench_sqs, "RUNS", 1)
    monkeypatch.setattr(bench_sqs, "WAIT_TIME", 1)
    monkeypatch.setattr(bench_workqueue, "SIZES", {"redis": 50, "amqp": 50})
    monkeypatch.setattr(bench_workqueue, "CONCURRENCY", {"redis": 4, "amqp": 4})
    monkeypatch.setattr(bench_workqueue, "LATENCY_SAMPLES", 5)
    monkeypatch.setattr(bench_workqueue, "RUNS", 1)
    # The peers installed by make bench-peers are left out; the bare aio-pika loop needs none.
    monkeypatch.setattr(bench_workqueue, "PEERS", {"redis": [], "amqp": ["aio-pika"]})
    monkeypatch.setattr(bench_scale, "PROCESSES", (1, 2))
    monkeypatch.setattr(bench_scale, "REPLICAS", (1, 2))
    monkeypatch.setattr(bench_scale, "RUNS", 1)
    monkeypatch.setattr(bench_scale, "SECONDS", 1.0)
    monkeypatch.setattr(bench_scale, "SLOTS_PER_RUN", 100)
    monkeypatch.setattr(bench_scale, "EVENTS", 40)
    monkeypatch.setattr(bench_scale, "JOBS", 40)
    monkeypatch.setattr(bench_scale, "CHAINS", 4)
    # End to end: half a second of paced requests per scenario, the long poll shortened.
    e2e = "tests.bench.bench_e2e"
    monkeypatch.setattr(f"{e2e}.RUNS", 1)
    monkeypatch.setattr(f"{e2e}.SECONDS", 0.5)
    monkeypatch.setattr(f"{e2e}.WARMUP_SECONDS", 0.2)
    monkeypatch.setattr(f"{e2e}.BUYERS", 4)
    monkeypatch.setattr(f"{e2e}.CHAINS", 2)
    monkeypatch.setattr(f"{e2e}.PROVIDERS", 2)
    monkeypatch.setattr(f"{e2e}.WAIT_TIME", 1)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (make load-tools)")
# Every benchmark starts its services as processes: minutes on a loaded machine, not seconds.
@pytest.mark.timeout(600)
async def test_every_benchmark_runs_with_tiny_counts_and_reports_finite_figures(
    tiny_counts: None,
) -> None:
    results = await bench.run_all(NAMES)

    failed = {name: outcome for name, outcome in results.items() if isinstance(outcome, str)}
    assert failed == {}
    for name, outcome in results.items():
        assert outcome, f"{name} reported no figures"
        for result in outcome:
            assert isinstance(result, Result)
            assert result.unit, result
            assert math.isfinite(result.value) and result.value >= 0, result


async def test_the_rendered_document_has_a_table_row_for_every_figure(tiny_counts: None) -> None:
    results = await bench.run_all(["bench_outbox"])

    document = bench.render(results, seconds=1.0)

    assert document.startswith("# Benchmarks")
    assert "## Machine" in document
    figures = results["bench_outbox"]
    assert not isinstance(figures, str)
    for result in figures:
        assert f"| {result.name} |" in document
