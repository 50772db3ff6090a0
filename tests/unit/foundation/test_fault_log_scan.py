"""The fault suite's log scan finds each kind of secret and masks it in what it reports."""

from __future__ import annotations

from shared.config import Settings
from tests.faults.logscan import LogScan, session_secrets

JWT_SECRET = "j" * 48
AWS_SECRET = "aws-secret-" * 3
WEBHOOK_KEY = "d2ViaG9vay1rZXktd2ViaG9vay1rZXktd2ViaG9vay1rZXk="
PASSWORD = "pg-password-1234"


def _scan() -> LogScan:
    settings = Settings(
        database_url=f"postgresql://postgres:{PASSWORD}@127.0.0.1:5432/suite",
        jwt_secret=JWT_SECRET,
        aws_secret_access_key=AWS_SECRET,
        webhook_secret=f"whsec_{WEBHOOK_KEY}",
    )
    return LogScan(session_secrets(settings))


def test_every_kind_of_secret_is_found_and_masked() -> None:
    scan = _scan()
    lines = [
        '{"event": "listening", "port": 8081}',
        f'{{"event": "signing", "key": "{JWT_SECRET}"}}',
        f"boto: secret {AWS_SECRET}",
        f"webhook key {WEBHOOK_KEY}",
        f"connect postgresql://postgres:{PASSWORD}@db/suite failed",
        "amqp://guest:guest@127.0.0.1:5672/ unreachable",
        "Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl",
        "http://127.0.0.1:4566/123456789012/booking-requests and user@example.com",
        "<Connection: amqp://guest:******@127.0.0.1:5672/> closed",
    ]
    leaks = scan.scan("booking_api process", "\n".join(lines))
    assert [leak.split(":")[0] for leak in leaks] == [
        f"booking_api process, line {n}" for n in (2, 3, 4, 5, 6, 7)
    ]
    assert scan.lines == len(lines) and scan.leaks == leaks
    for secret in (JWT_SECRET, AWS_SECRET, WEBHOOK_KEY, PASSWORD, "eyJhbGciOiJIUzI1NiJ9"):
        assert not any(secret in leak for leak in leaks), "a report never repeats the secret"
    assert "password in a URL" in leaks[4] and "bearer token" in leaks[5]
