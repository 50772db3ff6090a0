"""A service as a real OS process (`python -m services.<name>`), so a test can SIGKILL it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from shared.config import Settings
from shared.http.auth import mint_token
from tests.support.sqs_server import free_port
from tests.support.wait import eventually

ROOT = Path(__file__).resolve().parents[2]
PORT_SETTING = {
    "booking_api": "booking_api_port",
    "checkout_api": "checkout_api_port",
    "provider_consumer": "provider_consumer_port",
    "notification_consumer": "notification_consumer_port",
    "reward_worker": "reward_worker_port",
}


def environment(settings: Settings) -> dict[str, str]:
    """Every setting as the environment variable a process reads it from."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, bool):
            env[name.upper()] = "true" if value else "false"
        elif isinstance(value, list | dict):
            env[name.upper()] = json.dumps(value)
        else:
            env[name.upper()] = str(value)
    return env


class ServiceProcess:
    """One service process on a free port of its own, its output kept in a temporary file.

    Every instance is listed in STARTED until the harness has scanned its log for secrets
    (tests/faults/conftest.py does after each test) and discarded it."""

    def __init__(self, service: str, settings: Settings) -> None:
        self.service = service
        self.port = free_port()
        self.settings = settings.model_copy(update={PORT_SETTING[service]: self.port})
        self.env = {**os.environ, **environment(self.settings), "LOG_JSON": "true"}
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0
        STARTED.append(self)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ServiceProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", f"services.{self.service}"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        return self

    async def ready(self, timeout: float = 30) -> None:
        """Wait until GET /readyz answers 200 (its dependencies are reachable)."""
        async with aiohttp.ClientSession() as session:

            async def answers() -> bool:
                assert self.process is not None and self.process.poll() is None, self.output()
                async with session.get(f"{self.url}/readyz") as response:
                    return response.status == 200

            await eventually(answers, timeout=timeout, interval=0.1, what=f"{self.service} ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs; whatever was in flight is abandoned."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.kills += 1

    def stop(self, timeout: float = 30) -> int:
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode

    def output(self, tail: int | None = 5000) -> str:
        """What the process wrote (stdout and stderr, across restarts): the last `tail`
        characters, or all of it."""
        self.log.seek(0)
        text = self.log.read().decode(errors="replace")
        return text if tail is None else text[-tail:]

    def close(self) -> None:
        """Stop the process; its log stays readable until discard()."""
        if self.process is not None and self.process.poll() is None:
            self.stop()

    def discard(self) -> None:
        self.close()
        self.log.close()


STARTED: list[ServiceProcess] = []


def checkout_admin(session: aiohttp.ClientSession, api: ServiceProcess) -> AdminCall:
    """POST as an admin to a checkout_api process (with a fresh Idempotency-Key), expecting
    201; returns the answer's body."""

    async def call(path: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {
            "Authorization": f"Bearer {mint_token(api.settings.jwt_secret, 'ops', 'admin')}",
            "Idempotency-Key": str(uuid.uuid4()),
        }
        async with session.post(f"{api.url}{path}", json=body, headers=headers) as response:
            payload = await response.json(content_type=None)
            assert response.status == 201, (path, response.status, payload)
            return dict(payload)

    return call


AdminCall = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any]]]
