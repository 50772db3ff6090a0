"""Real processes and the secrets: each refuses to start without usable ones, and the local
commands write `.env` with fresh secrets once, then keep it."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest

from shared.config import Settings
from shared.http.auth import decode_token, mint_token
from tests.support.wait import eventually
from tools.services import ROOT, SERVICES

PUBLISHED = "local-development-secret-change-me-0123456789"


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """`python <args>` in `cwd` (its own .env, if any) with no secret from the environment."""
    base = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "WEBHOOK_SECRET")}
    return subprocess.run(
        [sys.executable, *args],
        cwd=cwd,
        env={**base, "PYTHONPATH": str(ROOT), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize("service", [s.name for s in SERVICES])
def test_every_service_refuses_to_start_without_a_jwt_secret(service: str, tmp_path: Path) -> None:
    result = run(["-m", f"services.{service}"], tmp_path)
    assert result.returncode == 1
    assert "error: JWT_SECRET is not set" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"JWT_SECRET": "too-short-0123456789"}, "JWT_SECRET is shorter than 32 bytes"),
        ({"JWT_SECRET": PUBLISHED}, "JWT_SECRET is a value published"),
        (
            {
                "JWT_SECRET": "a" * 8 + "-fresh-but-not-long-enough-" + "b" * 8 + "-ok-now-long",
                "WEBHOOK_URL": "http://127.0.0.1:9/hook",
            },
            "WEBHOOK_SECRET is not set",
        ),
    ],
)
def test_a_refused_secret_stops_the_process_with_an_error_that_never_shows_it(
    env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    result = run(["-m", "services.notification_consumer"], tmp_path, **env)
    assert result.returncode == 1
    assert expected in result.stderr
    assert env["JWT_SECRET"] not in result.stderr + result.stdout


def test_a_published_secret_in_dot_env_is_refused_too(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(f"JWT_SECRET={PUBLISHED}\n")
    result = run(["-m", "tools", "token", "alice", "user"], tmp_path)
    assert result.returncode == 1
    assert "JWT_SECRET is a value published" in result.stderr
    assert PUBLISHED not in result.stderr + result.stdout


def test_the_first_local_command_writes_fresh_secrets_once_and_tokens_use_them(
    tmp_path: Path,
) -> None:
    first = run(["-m", "tools", "token", "alice", "user"], tmp_path)
    assert first.returncode == 0, first.stderr
    env_file = tmp_path / ".env"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    written = dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
    assert set(written) == {"JWT_SECRET", "WEBHOOK_SECRET"}
    assert decode_token(written["JWT_SECRET"], first.stdout.strip()).sub == "alice"
    assert written["JWT_SECRET"] not in first.stderr

    again = run(["-m", "tools", "env"], tmp_path)
    second = run(["-m", "tools", "token", "bob", "admin"], tmp_path)
    assert again.returncode == second.returncode == 0
    assert (
        dict(line.split("=", 1) for line in env_file.read_text().splitlines() if "=" in line)
        == written
    )
    assert decode_token(written["JWT_SECRET"], second.stdout.strip()).role == "admin"

    other = tmp_path / "elsewhere"
    other.mkdir()
    run(["-m", "tools", "env"], other)
    assert (other / ".env").read_text() != env_file.read_text()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_env(settings: Settings, **changes: str) -> dict[str, str]:
    """The settings as the environment of a process (lists and flags as JSON)."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is not None:
            text = value if isinstance(value, str) else json.dumps(value)
            env[name.upper()] = text
    return {**env, **changes}


async def test_no_log_line_of_a_running_service_contains_the_secret_or_a_token(
    settings: Settings, tmp_path: Path
) -> None:
    port = free_port()
    env = settings_env(settings, BOOKING_API_PORT=str(port), LOG_LEVEL="DEBUG", LOG_JSON="true")
    base = {k: v for k, v in os.environ.items() if k not in ("JWT_SECRET", "WEBHOOK_SECRET")}
    output = tmp_path / "output.log"
    with output.open("wb") as sink:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "services.booking_api",
            cwd=tmp_path,
            env={**base, **env, "PYTHONPATH": str(ROOT)},
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    token = mint_token(settings.jwt_secret, "alice", "user")
    forged = mint_token("x" * 40 + "another-key", "alice", "admin")
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:

            async def ready() -> bool:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as response:
                    return response.status == 200

            await eventually(ready, timeout=60, interval=0.2, what="booking_api ready")
            statuses = []
            for header in (f"Bearer {token}", f"Bearer {forged}", f"Bearer {token}x", "Basic a"):
                async with http.get(
                    f"http://127.0.0.1:{port}/bookings/{uuid.uuid4()}",
                    headers={"Authorization": header},
                ) as response:
                    statuses.append(response.status)
            assert statuses == [404, 401, 401, 401]
    finally:
        process.send_signal(signal.SIGTERM)
        await asyncio.wait_for(process.wait(), 30)
    text = output.read_text()
    assert "listening" in text  # the scan reads what the service did log
    for needle in (settings.jwt_secret, token, forged, token.split(".")[2]):
        assert needle not in text
