"""reward_worker as a real OS process, so a test can SIGKILL it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from shared.config import Settings
from tests.support.sqs_server import free_port

ROOT = Path(__file__).resolve().parents[3]


class WorkerProcess:
    def __init__(self, settings: Settings, **env: str) -> None:
        self.port = free_port()
        self.env = {
            **os.environ,
            "DATABASE_URL": settings.database_url,
            "REDIS_URL": settings.redis_url,
            "AMQP_URL": settings.amqp_url,
            "WORK_QUEUE_BACKEND": settings.work_queue_backend,
            "WORK_QUEUE_NAME": settings.work_queue_name,
            "SQS_ENDPOINT_URL": settings.sqs_endpoint_url,
            "SQS_BOOKING_CONFIRMATION_QUEUE_URL": settings.sqs_booking_confirmation_queue_url,
            "SQS_BOOKING_REQUEST_QUEUE_URL": settings.sqs_booking_request_queue_url,
            "REWARD_WORKER_PORT": str(self.port),
            "LOG_LEVEL": "WARNING",
            **env,
        }
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> WorkerProcess:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "services.reward_worker"],
            cwd=ROOT,
            env=self.env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        return self

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, jobs in flight are abandoned mid-transaction."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)

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
