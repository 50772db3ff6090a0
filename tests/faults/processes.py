"""A service as a real OS process (`python -m services.<name>`), so a test can SIGKILL it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import aiohttp

from shared.config import Settings
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
    """One service process on a free port of its own, its output kept in a temporary file."""

    def __init__(self, service: str, settings: Settings) -> None:
        self.service = service
        self.port = free_port()
        self.settings = settings.model_copy(update={PORT_SETTING[service]: self.port})
        self.env = {**os.environ, **environment(self.settings), "LOG_JSON": "true"}
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.process: subprocess.Popen[bytes] | None = None
        self.kills = 0

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

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-5000:]

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.stop()
        self.log.close()
