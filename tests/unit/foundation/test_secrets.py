"""Secrets fail closed: no setting of a process may sign with a missing, short or public key."""

from __future__ import annotations

import base64
import re
import secrets
import subprocess

import pytest
import yaml

from shared.config import PUBLISHED_SECRETS, SecretRefused, Settings, webhook_key
from tools.services import ROOT

WEBHOOK = "http://127.0.0.1:9/hooks"


def committed_secret_values() -> set[str]:
    """Every value given to a *_SECRET setting in a committed file (examples, docs, infra)."""
    out = subprocess.run(
        ["git", "grep", "-h", "-I", "-E", r"(JWT|WEBHOOK)_SECRET\s*[=:]"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    values = set()
    for match in re.finditer(r"(?:JWT|WEBHOOK)_SECRET\s*[=:]\s*[\"']?([^\s\"'`]+)", out):
        value = match.group(1)
        if not value.startswith(("$", "{", "<", "os.", "SESSION_")):
            values.add(value)
    return values


def refusal(**fields: str) -> str:
    with pytest.raises(SecretRefused) as caught:
        Settings(_env_file=None, **fields)
    return str(caught.value.code)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "is not set"),
        ("x" * 31, "shorter than 32 bytes"),
        *[(value, "published") for value in sorted(PUBLISHED_SECRETS)],
        ("my-own-secret-but-change-me-later-please", "published"),
    ],
)
def test_a_process_refuses_a_jwt_secret_that_is_missing_short_or_published(
    value: str, reason: str
) -> None:
    message = refusal(jwt_secret=value)
    assert message.startswith("error: JWT_SECRET ")
    assert reason in message
    if value:
        assert value not in message


def test_every_secret_value_committed_to_the_repository_is_refused() -> None:
    values = committed_secret_values()
    # The examples are there (the scan works), and each of them is refused.
    assert "replace-me-with-a-random-secret-of-32-bytes-or-more" in values
    for value in values:
        refusal(jwt_secret=value)
        refusal(jwt_secret=secrets.token_urlsafe(48), webhook_url=WEBHOOK, webhook_secret=value)


def test_the_old_defaults_are_no_longer_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("JWT_SECRET", raising=False)
    with pytest.raises(SecretRefused, match="JWT_SECRET is not set"):
        Settings(_env_file=None)


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "is not set"),
        ("w" * 20, "shorter than 32 bytes"),
        ("whsec_" + base64.b64encode(secrets.token_bytes(24)).decode(), "shorter than 32 bytes"),
        ("whsec_not*base64!", "not base64"),
        ("local-webhook-secret-change-me", "published"),
    ],
)
def test_a_webhook_secret_is_required_and_checked_while_webhooks_are_on(
    value: str, reason: str
) -> None:
    message = refusal(
        jwt_secret=secrets.token_urlsafe(48), webhook_url=WEBHOOK, webhook_secret=value
    )
    assert message.startswith("error: WEBHOOK_SECRET ")
    assert reason in message
    if value:
        assert value not in message


def test_webhooks_off_need_no_webhook_secret() -> None:
    settings = Settings(_env_file=None, jwt_secret=secrets.token_urlsafe(48), webhook_secret="")
    assert settings.webhook_url == ""


def test_random_secrets_are_accepted_raw_or_in_the_whsec_form() -> None:
    raw = secrets.token_urlsafe(32)
    key = secrets.token_bytes(32)
    whsec = "whsec_" + base64.b64encode(key).decode()
    for webhook_secret in (raw, whsec):
        settings = Settings(
            _env_file=None,
            jwt_secret=secrets.token_urlsafe(48),
            webhook_url=WEBHOOK,
            webhook_secret=webhook_secret,
        )
        assert settings.webhook_secret == webhook_secret
    assert webhook_key(whsec) == key
    assert webhook_key(raw) == raw.encode()


def test_other_invalid_settings_do_not_echo_their_value() -> None:
    with pytest.raises(Exception) as caught:
        Settings(_env_file=None, booking_api_port="postgres://user:hunter2@db")  # type: ignore[arg-type]
    assert "hunter2" not in str(caught.value)


def test_the_compose_file_ships_no_secret_and_reads_the_generated_env_file() -> None:
    compose = yaml.safe_load((ROOT / "infra" / "compose.yaml").read_text())
    for name in ("booking_api", "checkout_api", "reward_worker", "setup"):
        service = compose["services"][name]
        assert service["env_file"] == "../.env"
        assert not {"JWT_SECRET", "WEBHOOK_SECRET"} & set(service.get("environment", {}))
