"""The work queue's peers, each run in a process of its own with the same Redis (or
RabbitMQ), job count and concurrency as ours: BullMQ 5 and Bull 4 (Node), arq, SAQ and
taskiq (Python), installed by `make bench-peers` into .bench/ (tests/bench/peers/); and a bare
aio-pika loop with confirms and manual acks for the RabbitMQ backend."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from tests.bench.results import Result, figure
from tools.services import ROOT

PEERS = Path(__file__).parent / "peers"
BENCH = ROOT / ".bench"
REDIS_PEERS = ["bullmq", "bull", "arq", "saq", "taskiq"]


def _argv(peer: str) -> list[str]:
    if peer in ("bullmq", "bull"):
        node = shutil.which("node")
        if node is None or not (BENCH / "node" / "node_modules" / peer).is_dir():
            raise FileNotFoundError(f"{peer} is not installed (make bench-peers)")
        return [node, str(PEERS / "node_queues.js"), peer]
    if peer == "aio-pika":
        return [sys.executable, str(PEERS / "aio_pika_loop.py")]
    python = BENCH / "venv" / "bin" / "python"
    if not python.exists():
        raise FileNotFoundError(f"{peer} is not installed (make bench-peers)")
    return [str(python), str(PEERS / "python_queues.py"), peer]


def command(peer: str, url: str, jobs: int, concurrency: int) -> str:
    """The command line of one run, as the document shows it."""
    argv = _argv(peer)
    shown = [
        Path(argv[0]).name if peer in ("bullmq", "bull", "aio-pika") else ".bench/venv/bin/python"
    ]
    shown += [str(Path(a).relative_to(ROOT)) if a.startswith(str(ROOT)) else a for a in argv[1:]]
    return " ".join([*shown, url, str(jobs), str(concurrency)])


def run_once(peer: str, url: str, jobs: int, concurrency: int) -> tuple[float, float]:
    done = subprocess.run(
        [*_argv(peer), url, str(jobs), str(concurrency)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{peer} failed: {(done.stdout + done.stderr).strip()[-600:]}")
    rates = json.loads(done.stdout.strip().splitlines()[-1])
    return float(rates["enqueue"]), float(rates["process"])


def measure(peer: str, url: str, jobs: int, concurrency: int, runs: int) -> list[Result]:
    """Enqueue and process rates of `runs` runs of `peer`."""
    rates = [run_once(peer, url, jobs, concurrency) for _ in range(runs)]
    notes = f"{jobs:,} jobs, concurrency {concurrency}, {runs} runs"
    # No password in the document: amqp://USER:PASSWORD@host/ is shown as amqp://...@host/.
    shown_url = url if "@" not in url else f"{url.split('://')[0]}://...@{url.split('@')[-1]}"
    shown = command(peer, shown_url, jobs, concurrency)
    return [
        figure(f"{peer}: enqueue", [r[0] for r in rates], "jobs/s", notes, shown),
        figure(f"{peer}: process no-op jobs", [r[1] for r in rates], "jobs/s", notes, shown),
    ]
