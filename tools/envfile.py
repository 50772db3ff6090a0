"""The local `.env` of secrets: written once, on first use, with fresh random values."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

HEADER = """\
# This machine's own secrets, written on first use by `python -m tools` (`make run`).
# Never commit it (it is git-ignored). Delete it to get new secrets; tokens minted with the
# old JWT_SECRET then stop working. Copy lines from .env.example here to change other settings.
"""


def fresh_secrets() -> dict[str, str]:
    """A random JWT secret and a Standard Webhooks secret (`whsec_` + base64 of 32 bytes)."""
    return {
        "JWT_SECRET": secrets.token_urlsafe(48),
        "WEBHOOK_SECRET": "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode(),
    }


def ensure_env_file(path: Path) -> bool:
    """Write `path` with fresh secrets, readable by its owner only, unless it exists: an
    existing file is never touched. True when it was written."""
    lines = HEADER + "".join(f"{name}={value}\n" for name, value in fresh_secrets().items())
    try:
        # O_EXCL: of two commands starting at once, one writes and the other keeps its file.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w") as file:
        file.write(lines)
    # The mode given to open is reduced by the umask; the owner's read and write must stay.
    os.chmod(path, 0o600)
    return True
