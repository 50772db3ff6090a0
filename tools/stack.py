"""`make run`: the local SQS server, migrations, queues, demo data, then all five services.

The services run under honcho (the Procfile), `API_PROCESSES` processes of each API sharing
its port. Ctrl-C or SIGTERM stops honcho, which stops the services; then the SQS server this
command started is stopped too.
"""

from __future__ import annotations

import asyncio
import ctypes
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

from shared.config import Settings
from shared.logging import get_logger
from tools import commands, sqs_server
from tools.services import ROOT

log = get_logger("stack")
BIN = Path(sys.executable).parent
PR_SET_PDEATHSIG = 1
APIS = ("booking_api", "checkout_api")  # the processes API_PROCESSES counts


def _die_with_parent() -> None:
    """Run in a child before exec: SIGTERM it when the launcher dies, even by SIGKILL,
    so neither honcho (and through it the services) nor the SQS server can outlive `make run`."""
    if sys.platform == "linux":
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def start_sqs(endpoint: str) -> subprocess.Popen[bytes] | None:
    """Start the local SQS server for `endpoint` unless something answers there already."""
    parts = urlsplit(endpoint)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    if port_open(host, port):
        log.info("SQS endpoint already answers", endpoint=endpoint)
        return None
    log.info("starting the local SQS server", endpoint=endpoint)
    return sqs_server.start(host, port, start_new_session=True, preexec_fn=_die_with_parent)


def prepare(settings: Settings) -> None:
    asyncio.run(commands.migrate_all(settings))
    asyncio.run(commands.provision(settings))
    asyncio.run(commands.seed(settings))


def concurrency(settings: Settings) -> str:
    """honcho's `-c`: API_PROCESSES of each API (sharing its port), one of every other."""
    return ",".join(f"{api}={settings.api_processes}" for api in APIS)


def run_stack(settings: Settings) -> int:
    sqs = start_sqs(settings.sqs_endpoint_url) if settings.sqs_endpoint_url else None
    try:
        prepare(settings)
        env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
        if sys.stdout.isatty():
            # honcho pipes the services' output, so they cannot see the terminal themselves.
            env.setdefault("LOG_JSON", "false")
        # `-e /dev/null`: honcho would load .env over the environment it is given (the
        # settings read .env themselves, below the environment, as every process does).
        argv = [str(BIN / "honcho"), "start", "-f", str(ROOT / "Procfile"), "-d", str(ROOT)]
        honcho = subprocess.Popen(
            [*argv, "-e", os.devnull, "-c", concurrency(settings)],
            env=env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )
        stopping = False

        def stop_services(*_: object) -> None:
            nonlocal stopping
            stopping = True
            honcho.send_signal(signal.SIGTERM)

        # honcho has a session of its own, so Ctrl-C reaches only us: we forward it as SIGTERM.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, stop_services)
        code = honcho.wait()
        # honcho exits 143 after a requested stop; that is a clean stop for us.
        return 0 if stopping and code in (0, 128 + signal.SIGTERM) else code
    finally:
        if sqs is not None:
            sqs_server.stop(sqs)
            log.info("local SQS server stopped")
