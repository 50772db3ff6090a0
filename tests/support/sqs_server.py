"""The local SQS server (see tools/sqs_server.py) of the test session's own, on a free port."""

from __future__ import annotations

import socket
import subprocess

from tools import sqs_server


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class SqsServer:
    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> SqsServer:
        self.process = sqs_server.start("127.0.0.1", self.port, timeout=timeout)
        return self

    def stop(self) -> None:
        if self.process is not None:
            sqs_server.stop(self.process)
