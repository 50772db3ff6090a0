"""Secrets in logs: every line a fault test's processes write (the service processes' stdout
and stderr, and what the services running inside the test process log) is searched for the
session's secrets, bearer tokens and passwords in URLs. A hit names the source, the line
number and the line with the secret masked."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from shared.config import Settings

# A JWT: base64url JSON header and payload ("eyJ" is the encoding of '{"').
BEARER_TOKEN = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*")
# scheme://user:password@host (a user name alone, or an empty password, is no secret).
PASSWORD_IN_URL = re.compile(r"\b[a-z][a-z0-9+.-]*://[^/\s:@\"']+:([^@\s/\"']+)@")
MASK = "«{}»"


def session_secrets(settings: Settings) -> dict[str, str]:
    """Name -> value of each secret the processes of a test session are given."""
    found = {
        "JWT_SECRET": settings.jwt_secret,
        "AWS_SECRET_ACCESS_KEY": settings.aws_secret_access_key,
    }
    if settings.webhook_secret:
        found["WEBHOOK_SECRET"] = settings.webhook_secret
        if settings.webhook_secret.startswith("whsec_"):
            found["WEBHOOK_SECRET key"] = settings.webhook_secret.removeprefix("whsec_")
    password = re.search(PASSWORD_IN_URL, settings.database_url)
    if password:
        found["DATABASE_URL password"] = password.group(1)
    return {name: value for name, value in found.items() if value and len(value) >= 8}


@dataclass
class LogScan:
    """Lines scanned and leaks found over a test session."""

    secrets: dict[str, str]
    lines: int = 0
    sources: Counter[str] = field(default_factory=Counter)
    leaks: list[str] = field(default_factory=list)

    def scan(self, source: str, text: str) -> list[str]:
        """Search every line of `text`; return (and keep) a description of each leak."""
        found = []
        for number, line in enumerate(text.splitlines(), start=1):
            self.lines += 1
            kinds = [name for name, value in self.secrets.items() if value in line]
            if BEARER_TOKEN.search(line):
                kinds.append("bearer token")
            if any(set(m.group(1)) != {"*"} for m in PASSWORD_IN_URL.finditer(line)):
                kinds.append("password in a URL")  # a masked one (amqp://u:******@) is fine
            if kinds:
                found.append(f"{source}, line {number}: {', '.join(kinds)}: {self.mask(line)}")
        self.sources[source.split(" ")[0]] += 1
        self.leaks += found
        return found

    def mask(self, line: str) -> str:
        for name, value in sorted(self.secrets.items(), key=lambda item: -len(item[1])):
            line = line.replace(value, MASK.format(name))
        line = BEARER_TOKEN.sub(MASK.format("token"), line)
        return PASSWORD_IN_URL.sub(lambda m: m.group(0).replace(m.group(1), "«password»"), line)
