"""The whole stack started the way `make run` starts it: real processes, checked over HTTP.

The `stack` fixture (tests/e2e/conftest.py) gives this test a stack of its own to stop.
"""

from __future__ import annotations

import asyncio
import signal
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.support.wait import eventually
from tools.services import SERVICES

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(240)]


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
