"""Profile the HTTP hot paths and compare two checkouts of the code back to back.

    python -m tests.bench.profile_http [--trees DIR,DIR] [--rounds N] [--profile DIR] TARGET...

TARGET is one of wallet, checkout, bookings, accept. booking_api and checkout_api run as
`make run` runs them (`python -m services.<name>`), from each tree in turn (the default tree
is this one), on one fresh database with one set of prepared data, so that the only change
between two trees is their code. Each round starts the services of every tree in turn and
drives each target with wrk (full speed, then at a fixed pause per request, the same for
every tree), every other round in the opposite order of trees; the medians are printed at the
end. Beside the rate, the service's CPU time per successful request is taken from /proc: on
a shared machine a rate swings with the other work, the CPU a request costs much less.
`--profile DIR` records one more run of each target per tree with py-spy (sampling only
while the GIL is held: the Python work) into DIR/<target>-<tree>.svg, and the collapsed
stacks beside it (.txt).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from shared.config import Settings
from shared.logging import configure_logging
from tests.bench import http_data, loadgen
from tests.bench.http_data import bearer
from tests.bench.loadgen import Request
from tests.bench.processes import free_port, scratch_settings, service
from tests.conftest import drop_database
from tests.support.sqs_server import SqsServer
from tools import commands
from tools.services import ROOT

CONNECTIONS = 16
SECONDS = 5.0
PER_RUN = {"bookings": 5_000, "accept": 2_500}  # distinct requests one run may need


@dataclass
class Figures:
    rate: list[float]
    half_p50: list[float]
    half_p99: list[float]
    half_rate: list[float]
    cpu_ms: list[float]  # the service's CPU time (user + system) per successful request


def _cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (from /proc; steady under a loaded
    machine, unlike a rate)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def _services(tree: Path, settings: Settings) -> Iterator[dict[str, int]]:
    """booking_api and checkout_api started from `tree`; yields their pids."""
    with (
        service("booking_api", settings, settings.booking_api_port, cwd=tree) as b,
        service("checkout_api", settings, settings.checkout_api_port, cwd=tree) as c,
    ):
        yield {"booking_api": b, "checkout_api": c}


class Data:
    """Requests for every run of every target, prepared once, taken in order."""

    def __init__(self, settings: Settings, runs: int, targets: list[str]) -> None:
        self.settings = settings
        self.runs = runs
        self.targets = targets
        self.booking = f"http://127.0.0.1:{settings.booking_api_port}"
        self.checkout = f"http://127.0.0.1:{settings.checkout_api_port}"
        self.lists: dict[str, list[Request]] = {}
        self.taken: dict[str, int] = {}

    async def prepare(self) -> None:
        settings = self.settings
        slots_needed = PER_RUN["bookings"] * self.runs if "bookings" in self.targets else 0
        if "accept" in self.targets:
            slots_needed += PER_RUN["accept"] * self.runs
        if slots_needed:
            await asyncio.to_thread(
                http_data.make_slots, self.booking, settings, 16, slots_needed, 0, "bench-p"
            )
            slots = await http_data.open_slots(settings.database_url, "bench-p")
            users = [bearer(settings, f"bench-u{i}", "user") for i in range(CONNECTIONS)]
            self.lists["bookings"] = [
                Request("POST", "/bookings", users[i % len(users)], json.dumps({"slot_id": s}))
                for i, s in enumerate(slots)
            ]
        if "accept" in self.targets:
            # Book the accept runs' slots now, once, so that accept has pending bookings.
            first = PER_RUN["bookings"] * self.runs if "bookings" in self.targets else 0
            books = self.lists["bookings"][first:]
            self.lists["bookings"] = self.lists["bookings"][:first]
            await asyncio.to_thread(http_data.book_each, self.booking, settings, books, "bench-p")
            pending = await http_data.pending_bookings(settings.database_url)
            providers = {p: bearer(settings, p, "provider") for _, p in pending}
            self.lists["accept"] = [
                Request("POST", f"/providers/{p}/bookings/{b}/accept", providers[p])
                for b, p in pending
            ]
        if {"wallet", "checkout"} & set(self.targets):
            shop = await http_data.shop(self.checkout, settings, CONNECTIONS)
            buyers = [bearer(settings, c, "customer") for c in shop.customers]
            body = json.dumps({"items": [{"product_id": shop.product, "quantity": 2}]})
            self.lists["checkout"] = [
                Request("POST", "/checkout", t, body, unique_key=True) for t in buyers
            ]
            self.lists["wallet"] = [Request("GET", "/wallet", t) for t in buyers]

    def url(self, target: str) -> str:
        return self.booking if target in ("bookings", "accept") else self.checkout

    def next(self, target: str, share: float = 1.0) -> list[Request]:
        """The requests of the next run: fresh ones for a target that uses each once
        (`share` of a full run's)."""
        items = self.lists[target]
        if target not in PER_RUN:
            return items
        start = self.taken.get(target, 0)
        size = min(int(PER_RUN[target] * share), len(items) - start)  # a few may be lost
        if size < CONNECTIONS:
            raise RuntimeError(f"{target}: only {size} fresh requests left")
        self.taken[target] = start + size
        return items[start : start + size]


def _run(data: Data, target: str, delay_ms: float = 0) -> loadgen.Run:
    done = loadgen.run(
        data.url(target),
        data.next(target, 0.5 if delay_ms else 1.0),
        connections=CONNECTIONS,
        seconds=SECONDS,
        delay_ms=delay_ms,
    )
    if (target in PER_RUN and done.wrapped) or done.succeeded < done.requests:
        print(f"  {target}: {done.statuses}, wrapped {done.wrapped}", flush=True)
    return done


def _service_of(target: str) -> str:
    return "booking_api" if target in ("bookings", "accept") else "checkout_api"


def _profile(pid: int, out: Path, seconds: float) -> list[subprocess.Popen[bytes]]:
    """py-spy sampling `pid` while it holds the GIL (its Python work, not its waits nor its
    system calls): a flame graph (out) and its collapsed stacks (out .txt)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    argv = [spy, "record", "--pid", str(pid), "--duration", f"{seconds:.0f}", "--rate", "100"]
    argv.append("--gil")
    return [
        subprocess.Popen(
            [*argv, "--format", kind, "-o", str(out.with_suffix(suffix))],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for kind, suffix in (("flamegraph", ".svg"), ("raw", ".txt"))
    ]


async def main(trees: list[Path], rounds: int, targets: list[str], profile: Path | None) -> None:
    sqs = SqsServer().start()
    settings, database = scratch_settings(
        sqs.url, booking_api_port=free_port(), checkout_api_port=free_port()
    )
    runs = len(trees) * (1.5 * rounds + (1 if profile else 0))  # a half-load run takes half
    data = Data(settings, math.ceil(runs), targets)
    figures = {(t, str(tree)): Figures([], [], [], [], []) for t in targets for tree in trees}
    pauses: dict[str, float] = {}
    try:
        await commands.migrate_all(settings)
        await commands.provision(settings)
        with _services(trees[0], settings):
            await data.prepare()
        for round_ in range(rounds):
            # Every other round the other way round, so that no tree always goes first
            # (the tables grow with every booking run).
            for tree in trees if round_ % 2 == 0 else trees[::-1]:
                with _services(tree, settings) as pids:
                    for target in targets:
                        f = figures[(target, str(tree))]
                        pid = pids[_service_of(target)]
                        cpu = _cpu_seconds(pid)
                        full = await asyncio.to_thread(_run, data, target)
                        f.cpu_ms.append(1000 * (_cpu_seconds(pid) - cpu) / full.succeeded)
                        f.rate.append(full.rate)
                        # One pause for every tree: half of what the first full run reached.
                        pause = pauses.setdefault(target, 1000 * CONNECTIONS / (full.rate / 2))
                        half = await asyncio.to_thread(_run, data, target, pause)
                        f.half_rate.append(half.rate)
                        f.half_p50.append(half.p50_ms)
                        f.half_p99.append(half.p99_ms)
                        print(
                            f"round {round_} {tree.name} {target}: {full.rate:.0f}/s, "
                            f"{f.cpu_ms[-1]:.2f} CPU ms each; at "
                            f"{half.rate:.0f}/s p50 {half.p50_ms:.1f} p99 {half.p99_ms:.1f} ms",
                            flush=True,
                        )
        if profile is not None:
            for tree in trees:
                with _services(tree, settings) as pids:
                    for target in targets:
                        pid = pids[
                            "booking_api" if target in ("bookings", "accept") else "checkout_api"
                        ]
                        out = profile / f"{target}-{tree.name}.svg"
                        spies = _profile(pid, out, SECONDS)
                        done = await asyncio.to_thread(_run, data, target)
                        for spy in spies:
                            spy.wait(timeout=60)
                        print(f"profiled {target} {tree.name}: {done.rate:.0f}/s -> {out}")
    finally:
        sqs.stop()
        await drop_database(database)
    print(
        "\ntarget | tree | req/s (median, min-max) | CPU ms per request (median, min-max) "
        "| half load: req/s, p50, p99 ms (median)"
    )
    for (target, where), f in figures.items():
        if not f.rate:
            continue
        print(
            f"{target} | {Path(where).name} | {statistics.median(f.rate):.0f} "
            f"({min(f.rate):.0f}-{max(f.rate):.0f}) | {statistics.median(f.cpu_ms):.2f} "
            f"({min(f.cpu_ms):.2f}-{max(f.cpu_ms):.2f}) | {statistics.median(f.half_rate):.0f}, "
            f"{statistics.median(f.half_p50):.1f}, {statistics.median(f.half_p99):.1f}"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="+", choices=["wallet", "checkout", "bookings", "accept"])
    parser.add_argument("--trees", default=str(ROOT))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", type=Path)
    parser.add_argument(
        "--per-run", type=int, default=PER_RUN["bookings"], help="bookings per full run"
    )
    args = parser.parse_args()
    if args.profile is not None:
        args.profile.mkdir(parents=True, exist_ok=True)
    configure_logging("bench", "WARNING", json=True)
    trees = [Path(t).resolve() for t in args.trees.split(",")]
    PER_RUN.update(bookings=args.per_run, accept=args.per_run // 2)
    asyncio.run(main(trees, args.rounds, args.targets, args.profile))
    sys.exit(0)
