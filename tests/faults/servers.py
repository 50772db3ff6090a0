"""Private PostgreSQL and Redis servers for fault tests: own ports, own data folders.

A fault test stops and starts these mid-workload; the machine's shared servers (5432, 6379)
are never touched. PostgreSQL refuses to run as root, so when the tests run as root the
cluster is created and run as the `postgres` system user (through `runuser`).
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from tests.support.sqs_server import free_port


def _wait_port(port: int, timeout: float, *, open_: bool = True) -> None:
    """Poll until 127.0.0.1:port accepts (or, with open_=False, refuses) connections."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                accepting = True
        except OSError:
            accepting = False
        if accepting == open_:
            return
        time.sleep(0.05)
    state = "accept" if open_ else "refuse"
    raise RuntimeError(f"127.0.0.1:{port} did not {state} connections within {timeout} s")


def postgres_bin() -> Path:
    """The newest installed PostgreSQL's bin folder (Debian keeps them out of PATH)."""
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name)
    )
    if candidates:
        return Path(candidates[-1])
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError("PostgreSQL is not installed (make system-deps)")


class PostgresCluster:
    """A throwaway PostgreSQL cluster on 127.0.0.1:<port>, data in a temporary folder."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.bin = postgres_bin()
        self.root = Path(tempfile.mkdtemp(prefix="faults-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.as_postgres = os.geteuid() == 0
        if self.as_postgres:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)

    @property
    def server_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, check: bool = True) -> subprocess.CompletedProcess[bytes]:
        command = [str(self.bin / argv[0]), *argv[1:]]
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        return subprocess.run(command, check=check, capture_output=True, timeout=60)

    def create(self) -> PostgresCluster:
        self._run(
            "initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
            "--no-sync",
        )  # fmt: skip
        # fsync off: a fast throwaway cluster. Stops are clean or immediate (WAL is still
        # written), never a machine crash, so committed rows survive every restart here.
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.write(
                "fsync = off\nfull_page_writes = off\nmax_connections = 300\n"
                "listen_addresses = '127.0.0.1'\n"
            )
        return self

    def start(self, timeout: float = 30) -> None:
        """Start the server and return once it accepts connections."""
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w", "-t", str(int(timeout)),
            "-o", f"-p {self.port} -k {self.root}", "start",
        )  # fmt: skip
        _wait_port(self.port, timeout)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: `fast` (clients disconnected, clean shutdown) or `immediate`
        (every process killed at once, as a crash; recovery replays the WAL on start)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop", check=False)
        _wait_port(self.port, 30, open_=False)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def destroy(self) -> None:
        if self.data.exists() and self.running():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


class RedisServer:
    """A throwaway Redis on 127.0.0.1:<port>: no persistence, so a restart starts it empty."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.root = Path(tempfile.mkdtemp(prefix="faults-redis-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 15) -> None:
        argv = [
            shutil.which("redis-server") or "redis-server",
            "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.root),
            "--save", "", "--appendonly", "no", "--maxmemory-policy", "noeviction",
        ]  # fmt: skip
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait_port(self.port, timeout)

    def stop(self) -> None:
        """SIGKILL: everything it held is gone (nothing is persisted)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)
        self.process = None
        _wait_port(self.port, 10, open_=False)

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def rabbitmq_server() -> str:
    """The broker's start script that runs it in the foreground as the current user (Debian's
    /usr/sbin wrapper would switch to the rabbitmq user and its data folder)."""
    for candidate in ("/usr/lib/rabbitmq/bin/rabbitmq-server", shutil.which("rabbitmq-server")):
        if candidate and Path(candidate).exists():
            return candidate
    raise RuntimeError("RabbitMQ is not installed (make system-deps)")


class RabbitServer:
    """A throwaway RabbitMQ node: its own node name, AMQP and distribution ports, data and
    log folders, no plugins (so no management listener). Its data survives a restart, as a
    real broker's durable queues do."""

    def __init__(self) -> None:
        self.port = free_port()
        self.dist_port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="faults-rabbitmq-"))
        self.name = f"faults-{self.root.name.rsplit('-', 1)[-1]}@localhost"
        (self.root / "enabled_plugins").write_text("[].\n")
        self.log = self.root / "server.out"
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.port}/"

    def start(self, timeout: float = 60) -> None:
        env = {
            **os.environ,
            "RABBITMQ_NODENAME": self.name,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(self.port),
            "RABBITMQ_DIST_PORT": str(self.dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.root / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.root / "log"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.root / "enabled_plugins"),
            "RABBITMQ_PID_FILE": str(self.root / "pid"),
            "RABBITMQ_CONFIG_FILE": str(self.root / "none"),
        }
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [rabbitmq_server()], env=env, cwd=self.root, stdout=out, stderr=out,
                start_new_session=True,
            )  # fmt: skip
        _wait_port(self.port, timeout)

    def kill(self) -> None:
        """SIGKILL the whole node (its process group): a crash, nothing is shut down."""
        if self.process is not None and self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)
        self.process = None
        _wait_port(self.port, 15, open_=False)

    def destroy(self) -> None:
        with contextlib.suppress(RuntimeError):
            self.kill()
        shutil.rmtree(self.root, ignore_errors=True)
