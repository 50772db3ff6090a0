"""The whole stack started the way `make run` starts it, for the e2e tests.

`stack` gives a test a stack of its own that it may stop (the launcher's own test does);
`running_stack` starts one per module, waits until every process is ready and is shared by
the journeys of that module (starting five processes is the slow part).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest

from shared.config import Settings
from tests.conftest import SERVER_DSN, drop_database
from tests.support.sqs_server import free_port
from tools.services import ROOT, SERVICES

READY_TIMEOUT = 120.0


def stack_env(database: str) -> dict[str, str]:
    sqs = f"http://127.0.0.1:{free_port()}"
    env = {
        **os.environ,
        "DATABASE_URL": urlunsplit(urlsplit(SERVER_DSN)._replace(path=f"/{database}")),
        "SQS_ENDPOINT_URL": sqs,
        "SQS_BOOKING_REQUEST_QUEUE_URL": f"{sqs}/123456789012/booking-requests",
        "SQS_BOOKING_CONFIRMATION_QUEUE_URL": f"{sqs}/123456789012/booking-confirmations",
        "WORK_QUEUE_NAME": f"rewards-{database}",
        "LOG_LEVEL": "WARNING",
    }
    for service in SERVICES:
        env[service.port_setting.upper()] = str(free_port())
    return env


@contextmanager
def launched_stack() -> Iterator[tuple[subprocess.Popen[bytes], Settings]]:
    """`python -m tools run` (what `make run` runs) on a database and ports of its own, with
    the settings it was started with (the session's secrets among them); stopped after."""
    database = f"e2e_{uuid.uuid4().hex[:10]}"
    env = stack_env(database)
    process = subprocess.Popen(
        [sys.executable, "-m", "tools", "run"], cwd=ROOT, env=env, start_new_session=True
    )
    fields = {k.lower(): v for k, v in env.items() if k.lower() in Settings.model_fields}
    settings = Settings(**fields)
    try:
        yield process, settings
    finally:
        stop_stack(process)
        asyncio.run(drop_database(database))


def stop_stack(process: subprocess.Popen[bytes]) -> None:
    """Stop the launcher the way an operator does, so it stops honcho and every service
    (honcho gives each service a session of its own: killing the launcher alone would not)."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()


async def wait_until_ready(process: subprocess.Popen[bytes], settings: Settings) -> None:
    """Poll every process's /readyz until all answer 200; fail at once if the stack exits."""
    last: dict[str, str] = {service.name: "no answer yet" for service in SERVICES}
    deadline = time.monotonic() + READY_TIMEOUT
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        while last:
            if process.poll() is not None:
                raise AssertionError(f"the stack exited with {process.returncode}: {last}")
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready within {READY_TIMEOUT} s: {last}")
            for service in [s for s in SERVICES if s.name in last]:
                url = f"http://127.0.0.1:{service.port(settings)}/readyz"
                try:
                    async with http.get(url) as response:
                        if response.status == 200:
                            del last[service.name]
                        else:
                            last[service.name] = await response.text()
                except (aiohttp.ClientError, TimeoutError) as exc:
                    last[service.name] = repr(exc)
            if last:
                await asyncio.sleep(0.5)


@pytest.fixture
def stack() -> Iterator[tuple[subprocess.Popen[bytes], Settings]]:
    with launched_stack() as launched:
        yield launched


@pytest.fixture(scope="module")
def running_stack() -> Iterator[Settings]:
    """One ready stack for a whole module; its settings say where each process listens."""
    with launched_stack() as (process, settings):
        asyncio.run(wait_until_ready(process, settings))
        yield settings
