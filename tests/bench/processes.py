"""The services under test as real processes, started the way `make run` starts them
(`python -m services.<name>`, settings from the environment), and their memory.

The load generator is never one of these processes: the benchmarks drive them from outside.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from shared.config import Settings
from tests.conftest import SERVER_DSN, SESSION_JWT_SECRET
from tools.services import ROOT


def scratch_settings(sqs_url: str, **overrides: Any) -> tuple[Settings, str]:
    """Settings of a benchmark run: a database, queues and a work queue of its own (names
    with a fresh suffix) on the given SQS server; returns them with the database's name."""
    suffix = uuid.uuid4().hex[:8]
    base = f"{sqs_url}/123456789012"
    database = f"bench_{suffix}"
    settings = Settings(
        database_url=SERVER_DSN.rsplit("/", 1)[0] + f"/{database}",
        sqs_endpoint_url=sqs_url,
        sqs_booking_request_queue_url=f"{base}/booking-requests-{suffix}",
        sqs_booking_confirmation_queue_url=f"{base}/booking-confirmations-{suffix}",
        work_queue_name=f"bench-{suffix}",
        jwt_secret=SESSION_JWT_SECRET,
        log_level="WARNING",
        **overrides,
    )
    return settings, database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def environment(settings: Settings) -> dict[str, str]:
    """Every setting as the environment variable a service reads it from."""
    env = dict(os.environ)
    for name, value in settings.model_dump(mode="json").items():
        if value is None:
            continue
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | dict):
            text = json.dumps(value)
        else:
            text = str(value)
        env[name.upper()] = text
    return env


def rss_mib(pid: int) -> float:
    """Resident set size of a process (VmRSS), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise ValueError(f"process {pid} has no VmRSS")


def _wait_ready(url: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{url}: the service exited with {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"{url} was not ready within {timeout:.0f} s")


@contextmanager
def service(
    name: str, settings: Settings, port: int, *, ready: float = 30, cwd: Path = ROOT
) -> Iterator[int]:
    """`python -m services.<name>` (from the checkout at `cwd`) on `port` until the block
    ends; yields its pid."""
    argv = [sys.executable, "-m", f"services.{name}"]
    # A file, not a pipe: a pipe nobody reads would block a service that logs a lot.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            argv,
            cwd=cwd,
            env=environment(settings),
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
        try:
            try:
                _wait_ready(f"http://127.0.0.1:{port}/readyz", process, ready)
            except (RuntimeError, TimeoutError) as exc:
                errors.seek(0)
                tail = errors.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"{name} did not start: {exc}\n{tail}") from None
            yield process.pid
        finally:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
