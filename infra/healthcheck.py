"""The container's health check: GET /healthz of the process the container runs.

The image runs one process, chosen by its command (`python -m services.<name>`). This reads
that command from /proc/1/cmdline (PID 1, or the child of an init that keeps it in its
arguments), takes the port from the process's `<NAME>_PORT` setting, the contract's port
otherwise, and exits 0 when /healthz answers 200 within 3 s. A container running a one-off
command (`python -m tools migrate`) serves nothing: it is healthy while it runs.
Standard library only, since it runs every few seconds.
"""

from __future__ import annotations

import sys
import urllib.request
from collections.abc import Mapping, Sequence
from os import environ
from pathlib import Path

PORTS = {
    "booking_api": 8081,
    "checkout_api": 8082,
    "provider_consumer": 9101,
    "notification_consumer": 9102,
    "reward_worker": 9103,
}


def health_url(command: Sequence[str], env: Mapping[str, str]) -> str | None:
    """The /healthz URL of the service `command` runs, or None for any other command."""
    for argument in command:
        name = argument.removeprefix("services.")
        if name != argument and name in PORTS:
            port = int(env.get(f"{name.upper()}_PORT") or PORTS[name])
            return f"http://127.0.0.1:{port}/healthz"
    return None


def main() -> int:
    command = Path("/proc/1/cmdline").read_bytes().decode(errors="replace").split("\0")
    url = health_url(command, environ)
    if url is None:
        return 0
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return 0 if response.status == 200 else 1
    except OSError as exc:
        print(f"unhealthy: {url}: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
