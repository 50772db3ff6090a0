"""`make bench`: run every tests/bench/bench_*.py and write docs/BENCHMARKS.md.

Each benchmark module has `async def run(settings) -> list[Result]`. The runner gives them a
fresh migrated database and an SQS server of their own, as the test suite does.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import platform
import subprocess
import sys
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from shared.logging import configure_logging
from tests.bench.goals import summary
from tests.bench.processes import scratch_settings
from tests.bench.results import Result
from tests.conftest import drop_database
from tests.support.sqs_server import SqsServer
from tools import commands
from tools.services import ROOT

OUTPUT = ROOT / "docs" / "BENCHMARKS.md"
SAVED = ROOT / ".bench" / "last-run.json"
PREFACE = Path(__file__).parent / "preface.md"


def _command_output(*argv: str) -> str:
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"


def _memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024**2
    return 0.0


def machine() -> list[str]:
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return [
        f"- CPU: {cpu}, {_command_output('nproc')} cores",
        f"- Memory: {_memory_gib():.0f} GiB",
        f"- OS: {platform.platform()}",
        f"- Python: {sys.version.split()[0]}",
        f"- PostgreSQL: {_command_output('psql', '--version')}",
        f"- Redis: {_command_output('redis-server', '--version').split(' sha=')[0]}",
        "- Load average (1, 5, 15 min) when the document was written: "
        + ", ".join(f"{load:.2f}" for load in os.getloadavg())
        + " (the machine is shared: other work ran beside the benchmarks)",
    ]


async def run_all(names: list[str]) -> dict[str, list[Result] | str]:
    sqs = SqsServer().start()
    settings, database = scratch_settings(sqs.url)
    results: dict[str, list[Result] | str] = {}
    try:
        await commands.migrate_all(settings)
        await commands.provision(settings)
        for name in names:
            module = importlib.import_module(f"tests.bench.{name}")
            print(f"running {name} ...", flush=True)
            try:
                results[name] = await module.run(settings)
            except Exception as exc:  # a broken benchmark is reported, the others still run
                results[name] = f"failed: {exc!r}"
    finally:
        sqs.stop()
        await drop_database(database)
    return results


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:,.2f}" if abs(value) < 10 else f"{value:,.0f}"


def _row(r: Result) -> str:
    low, high = (r.low, r.high) if r.runs > 1 else (None, None)
    return (
        f"| {r.name} | {_number(r.value)} | {_number(low)} | {_number(high)} | {r.unit} "
        f"| {r.runs} | {r.notes} |"
    )


def render(results: dict[str, list[Result] | str], seconds: float) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC "
        f"({seconds:.0f} s in all). Command: `make bench` (`python -m tests.bench`).",
        "",
        PREFACE.read_text().strip(),
        "",
        "## Machine",
        "",
        *machine(),
        "",
        "## Goals",
        "",
        "The figures that have a goal in the performance issue, and whether this run met it.",
        "",
        *summary(
            [r for outcome in results.values() if not isinstance(outcome, str) for r in outcome]
        ),
        "",
    ]
    for name, outcome in results.items():
        module = importlib.import_module(f"tests.bench.{name}")
        lines += [f"## {name.removeprefix('bench_')}", "", (module.__doc__ or "").strip(), ""]
        if isinstance(outcome, str):
            lines += [outcome, ""]
            continue
        lines += [
            "| measure | median | min | max | unit | runs | notes |",
            "| --- | ---: | ---: | ---: | --- | ---: | --- |",
        ]
        lines += [_row(r) for r in outcome]
        commands = sorted({r.command for r in outcome if r.command})
        if commands:
            lines += ["", "Commands (DATA, RUN and DATABASE_URL stand for what the run made):", ""]
            lines += [f"- `{command}`" for command in commands]
        lines.append("")
    return "\n".join(lines)


def _save(results: dict[str, list[Result] | str], seconds: float) -> None:
    """Keep the figures (git-ignored) so that `--render` can rewrite the document."""
    SAVED.parent.mkdir(exist_ok=True)
    figures = {n: r if isinstance(r, str) else [asdict(x) for x in r] for n, r in results.items()}
    SAVED.write_text(json.dumps({"seconds": seconds, "results": figures}, indent=1))


def _load() -> tuple[dict[str, list[Result] | str], float]:
    saved = json.loads(SAVED.read_text())
    results: dict[str, list[Result] | str] = {
        n: r if isinstance(r, str) else [Result(**x) for x in r]
        for n, r in saved["results"].items()
    }
    return results, float(saved["seconds"])


def main() -> int:
    """python -m tests.bench [NAME ...]: run the benchmarks (all, or those whose module name
    contains a NAME) and write docs/BENCHMARKS.md; --render rewrites it from the last run."""
    configure_logging("bench", "WARNING", json=True)
    if sys.argv[1:] == ["--render"]:
        results, seconds = _load()
        OUTPUT.write_text(render(results, seconds))
        return 0
    names = sorted(p.stem for p in Path(__file__).parent.glob("bench_*.py"))
    if len(sys.argv) > 1:
        names = [n for n in names if any(arg in n for arg in sys.argv[1:])]
    started = time.monotonic()
    results = asyncio.run(run_all(names))
    seconds = time.monotonic() - started
    failed = any(isinstance(r, str) for r in results.values())
    if len(sys.argv) > 1 and SAVED.exists():
        # A partial run replaces its own sections of the last full run, keeping the others.
        saved, seconds = _load()
        results = {n: results.get(n, saved.get(n, "not run")) for n in sorted({*saved, *results})}
    _save(results, seconds)
    OUTPUT.write_text(render(results, seconds))
    print(OUTPUT.read_text())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
