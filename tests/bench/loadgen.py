"""The load generator: wrk (Debian's package) replaying prepared requests with a Lua script,
in processes of its own, never in a process or event loop of the system under test.

`make bench` installs wrk when it is missing (as root, from Debian's packages).
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

SCRIPT = Path(__file__).parent / "wrk" / "requests.lua"
THREADS = 2  # one per core of the machine the figures were taken on


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    token: str  # the Authorization header's value
    body: str | None = None
    unique_key: bool = False  # a fresh Idempotency-Key each time it is sent


@dataclass(frozen=True)
class Run:
    requests: int
    seconds: float
    failed: int  # HTTP status >= 400, connect/read/write errors and timeouts
    p50_ms: float
    p99_ms: float
    mean_ms: float
    statuses: dict[int, int]  # responses by HTTP status
    wrapped: int  # how often a thread came to the end of the requests and began again

    @property
    def succeeded(self) -> int:
        return sum(n for status, n in self.statuses.items() if status < 400)

    @property
    def rate(self) -> float:
        """Successful responses per second: a refused request is not throughput."""
        return self.succeeded / self.seconds


def _lua_string(text: str) -> str:
    return json.dumps(text)  # a JSON string literal is a valid Lua string literal for ASCII


def _data_file(requests: list[Request], into: Path) -> None:
    tokens = sorted({r.token for r in requests})
    number = {token: i + 1 for i, token in enumerate(tokens)}
    lines = ["tokens = {", *(f"  {_lua_string(t)}," for t in tokens), "}", "requests = {"]
    for r in requests:
        body = "nil" if r.body is None else _lua_string(r.body)
        unique = "true" if r.unique_key else "false"
        lines.append(
            f"  {{{_lua_string(r.method)}, {_lua_string(r.path)}, {number[r.token]}, "
            f"{body}, {unique}}},"
        )
    lines.append("}")
    into.write_text("\n".join(lines) + "\n")


def wrk_path() -> str:
    found = shutil.which("wrk")
    if found is None:
        raise RuntimeError("wrk is not installed (Debian package wrk; `make bench` installs it)")
    return found


def command(
    url: str, connections: int, seconds: float, delay_ms: float, once: bool = False
) -> list[str]:
    """The wrk command line, with DATA standing for the data file and RUN for a fresh id."""
    return [
        "wrk",
        f"-t{min(THREADS, connections)}",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",  # wrk takes whole seconds
        "--timeout",
        "10s",
        "-s",
        str(SCRIPT.relative_to(SCRIPT.parents[3])),
        url,
        "--",
        "DATA",
        str(min(THREADS, connections)),
        f"{delay_ms:g}",
        "RUN",
        *(["once"] if once else []),
    ]


def run(
    url: str,
    requests: list[Request],
    *,
    connections: int,
    seconds: float,
    delay_ms: float = 0,
    once: bool = False,
    stop_when: Callable[[], bool] | None = None,
) -> Run:
    """Send `requests` (wrapping around, or each once with `once`) for `seconds` over
    `connections` keep-alive connections, each pausing `delay_ms` before each request.
    `stop_when`, asked twice a second, ends the run early (wrk stops on SIGINT)."""
    if len(requests) < connections:
        raise ValueError("fewer prepared requests than connections")
    with tempfile.TemporaryDirectory(prefix="bench-wrk-") as folder:
        data = Path(folder) / "data.lua"
        _data_file(requests, data)
        argv = command(url, connections, seconds, delay_ms, once)
        argv[0] = wrk_path()
        argv[argv.index("-s") + 1] = str(SCRIPT)
        argv[argv.index("DATA")] = str(data)
        argv[argv.index("RUN")] = uuid.uuid4().hex[:12]
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + seconds + 60
        while process.poll() is None and time.monotonic() < deadline:
            if stop_when is not None and stop_when():
                process.send_signal(signal.SIGINT)
                break
            time.sleep(0.5)
        try:
            stdout, stderr = process.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            raise RuntimeError(f"wrk did not end within {seconds + 60:.0f} s") from None
    if process.returncode != 0:
        output = (stdout + stderr).strip()[-500:]
        raise RuntimeError(f"wrk failed ({process.returncode}): {output}")
    summary = json.loads(stdout.strip().splitlines()[-1])
    errors = summary["errors"]
    return Run(
        requests=int(summary["requests"]),
        seconds=summary["duration_us"] / 1e6,
        failed=sum(int(v) for v in errors.values()),
        p50_ms=summary["p50_us"] / 1000,
        p99_ms=summary["p99_us"] / 1000,
        mean_ms=summary["mean_us"] / 1000,
        statuses={int(status): int(n) for status, n in summary["statuses"].items()},
        wrapped=int(summary["wrapped"]),
    )
