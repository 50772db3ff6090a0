"""The open-loop load generator: prepared requests sent at a fixed arrival rate, request i
at start + i / rate whatever the earlier answers take (as wrk2 paces), from a process of its
own, never in a process or event loop of the system under test.

    python -m tests.bench.pacer URL DATA_FILE RATE

DATA_FILE is a JSON list of {method, path, headers, body}. The summary, one JSON line on
stdout, counts the answers by status and gives each request's latency from the moment it
was due (so a stall of the service is not hidden by the client waiting for it).
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

CONNECTIONS = 64  # at most this many requests in flight; later ones wait for a connection
TIMEOUT = 30.0  # seconds an answer may take


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: str | None = None


@dataclass(frozen=True)
class Paced:
    sent: int
    seconds: float  # from the first answer to the last
    statuses: dict[int, int]  # answers by HTTP status; 0 for no answer (an error, a timeout)
    p50_ms: float  # latency from the moment each request was due to its answer
    p99_ms: float
    behind_ms: float  # how late the pacer itself sent its latest request

    @property
    def succeeded(self) -> int:
        return sum(n for status, n in self.statuses.items() if 0 < status < 400)

    @property
    def rate(self) -> float:
        """Successful answers per second, between the first answer and the last: the rate
        asked for when the service keeps up, less when its answers fall behind."""
        return (self.succeeded - 1) / self.seconds if self.seconds > 0 else 0.0


def run(url: str, requests: list[Request], rate: float) -> Paced:
    """Send `requests` at `rate` per second from a pacer process; wait for every answer."""
    with tempfile.TemporaryDirectory(prefix="bench-pacer-") as folder:
        data = Path(folder) / "requests.json"
        data.write_text(json.dumps([asdict(r) for r in requests]))
        argv = [sys.executable, "-m", "tests.bench.pacer", url, str(data), f"{rate:g}"]
        budget = len(requests) / rate + TIMEOUT + 30
        done = subprocess.run(argv, capture_output=True, text=True, timeout=budget)
    if done.returncode != 0:
        raise RuntimeError(f"pacer failed ({done.returncode}): {done.stderr.strip()[-500:]}")
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    summary["statuses"] = {int(s): int(n) for s, n in summary["statuses"].items()}
    return Paced(**summary)


def _percentile(values: list[float], q: int) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def _pace(url: str, requests: list[dict[str, Any]], rate: float) -> dict[str, Any]:
    statuses: Counter[int] = Counter()
    latencies: list[float] = []
    answered: list[float] = []  # loop times of the answers
    loop = asyncio.get_running_loop()
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    async with aiohttp.ClientSession(url, connector=connector, timeout=timeout) as http:

        async def send(request: dict[str, Any], due: float) -> None:
            try:
                async with http.request(
                    request["method"],
                    request["path"],
                    headers=request["headers"],
                    data=request["body"],
                ) as answer:
                    await answer.read()
                    statuses[answer.status] += 1
            except (aiohttp.ClientError, TimeoutError):
                statuses[0] += 1
            answered.append(loop.time())
            latencies.append(answered[-1] - due)

        tasks = []
        behind = 0.0
        start = loop.time() + 0.05
        for i, request in enumerate(requests):
            due = start + i / rate
            if (wait := due - loop.time()) > 0:
                await asyncio.sleep(wait)
            behind = max(behind, loop.time() - due)
            tasks.append(asyncio.create_task(send(request, due)))
        await asyncio.gather(*tasks)
    return {
        "sent": len(requests),
        "seconds": max(answered) - min(answered),
        "statuses": dict(statuses),
        "p50_ms": 1000 * _percentile(latencies, 50),
        "p99_ms": 1000 * _percentile(latencies, 99),
        "behind_ms": 1000 * behind,
    }


def main() -> None:
    url, data, rate = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    summary = asyncio.run(_pace(url, json.loads(data.read_text()), rate))
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
