"""The whole stack started the way `make run` starts it: real processes, checked over HTTP."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import aiohttp
import pytest

from shared.config import Settings
from tests.conftest import SERVER_DSN, drop_database
from tests.support.sqs_server import free_port
from tests.support.wait import eventually
from tools.services import ROOT, SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


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


@pytest.fixture
def stack() -> Iterator[tuple[subprocess.Popen[bytes], Settings]]:
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


async def test_every_process_is_ready_and_serves_metrics_then_stops_on_ctrl_c(stack) -> None:
    process, settings = stack
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
        last: dict[int, str] = {}

        async def ready(port: int) -> bool:
            async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                last[port] = await response.text()
                return response.status == 200

        for service in SERVICES:
            port = service.port(settings)
            try:
                await eventually(
                    lambda port=port: ready(port),
                    timeout=120,
                    interval=0.5,
                    what=f"{service.name} ready on {port}",
                )
            except AssertionError as exc:
                raise AssertionError(f"{exc}; last /readyz: {last.get(port)}") from None
            async with http.get(f"http://127.0.0.1:{port}/metrics") as response:
                assert response.status == 200
                text = await response.text()
            assert "http_requests_total" in text
            assert 'route="/readyz"' in text
            async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert (await response.json())["status"] == "ok"

    process.send_signal(signal.SIGINT)
    code = await asyncio.to_thread(process.wait, 60)
    assert code == 0, code
    sqs_port = urlsplit(settings.sqs_endpoint_url).port
    for port in [sqs_port] + [s.port(settings) for s in SERVICES]:
        with pytest.raises(OSError):
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            writer.close()
