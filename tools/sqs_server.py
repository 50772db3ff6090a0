"""The local SQS server of `make run` and the tests: fauxqs, run by the Node 22 it ships with.

`make sqs-server` installs both into tools/sqs/node_modules from tools/sqs/package-lock.json.
fauxqs keeps every queue in memory and costs the same per call at 10 or 10,000 queued messages
(docs/sqs-server.md has the measurements). tools/sqs/serve.mjs binds it to one address,
loopback unless told otherwise: fauxqs's own command line listens on every interface.
"""

from __future__ import annotations

import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

SQS_DIR = Path(__file__).resolve().parent / "sqs"
NODE = SQS_DIR / "node_modules" / "node" / "bin" / "node"
SERVE = SQS_DIR / "serve.mjs"


class NotInstalled(RuntimeError):
    """The server's Node packages are missing: `make sqs-server` installs them."""


def command(host: str, port: int) -> list[str]:
    """The argv that serves SQS on host:port."""
    if not NODE.exists() or not (SQS_DIR / "node_modules" / "fauxqs").is_dir():
        raise NotInstalled(f"the local SQS server is not installed: run `make sqs-server` ({NODE})")
    # fauxqs imports node:sqlite for its optional persistence; its experimental warning is noise.
    return [
        str(NODE),
        "--disable-warning=ExperimentalWarning",
        str(SERVE),
        "--host",
        host,
        "--port",
        str(port),
    ]


def healthy(host: str, port: int) -> bool:
    """Whether an SQS server of ours answers its health check on host:port."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}/health", timeout=0.5) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def start(
    host: str,
    port: int,
    *,
    timeout: float = 30,
    preexec_fn: Callable[[], None] | None = None,
    start_new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start the server and return once it answers; raise if it exits or stays silent."""
    argv = command(host, port)
    # stderr goes to a file, not a pipe: nobody reads it once the server runs, and a full
    # pipe would block the server. It is read only to say why a start failed.
    with tempfile.TemporaryFile() as errors:
        process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            preexec_fn=preexec_fn,
            start_new_session=start_new_session,
        )
        deadline = time.monotonic() + timeout
        while not healthy(host, port):
            if process.poll() is not None:
                errors.seek(0)
                said = errors.read().decode(errors="replace")[-2000:]
                raise RuntimeError(f"the SQS server exited with {process.returncode}: {said}")
            if time.monotonic() > deadline:
                stop(process)
                raise RuntimeError(
                    f"the SQS server did not answer on {host}:{port} in {timeout:.0f} s"
                )
            time.sleep(0.05)
    return process


def stop(process: subprocess.Popen[bytes], timeout: float = 10) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
