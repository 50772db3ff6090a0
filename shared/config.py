"""Typed configuration, read from the environment (and `.env` when present).

Secrets have no usable defaults: building the settings refuses a missing, short or published
`JWT_SECRET` (and `WEBHOOK_SECRET` while webhooks are on), so no process can start with one.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Annotated

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

MIN_SECRET_BYTES = 32
WEBHOOK_SECRET_PREFIX = "whsec_"
# Every secret value that was ever committed to this repository (old defaults, the
# placeholders of .env.example, examples in docs): anyone can read them, so none may sign.
PUBLISHED_SECRETS = frozenset(
    {
        "local-development-secret-change-me-0123456789",
        "local-webhook-secret-change-me",
        "unit-test-secret-long-enough-for-hs256-0123456789",
        "another-secret-long-enough-for-hs256-9876543210",
        "replace-me-with-a-random-secret-of-32-bytes-or-more",
        "whsec_replace-me-with-a-random-secret-of-32-bytes-or-more",
    }
)
# A value still carrying one of these is a placeholder somebody forgot to replace.
PLACEHOLDER_MARKERS = ("change-me", "changeme", "replace-me")


class SecretRefused(SystemExit):
    """A secret setting is unusable. A SystemExit, so that pydantic lets it through unwrapped
    (its errors would echo the input) and an uncaught one ends the process with just this
    message, never a traceback."""


def webhook_key(secret: str) -> bytes:
    """The HMAC key of `WEBHOOK_SECRET`: base64-decoded after a `whsec_` prefix (the Standard
    Webhooks form), else the UTF-8 bytes of the value as it is."""
    if secret.startswith(WEBHOOK_SECRET_PREFIX):
        encoded = secret.removeprefix(WEBHOOK_SECRET_PREFIX)
        try:
            return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
        except (binascii.Error, ValueError):
            raise ValueError("the part after whsec_ is not base64") from None
    return secret.encode()


def _problem(secret: str, key: Callable[[str], bytes]) -> str | None:
    """Why `secret` may not be used, or None. The reason never contains the value."""
    if not secret:
        return "is not set"
    lowered = secret.lower()
    if secret in PUBLISHED_SECRETS or any(m in lowered for m in PLACEHOLDER_MARKERS):
        return "is a value published in the suite's repository"
    try:
        if len(key(secret)) < MIN_SECRET_BYTES:
            return f"is shorter than {MIN_SECRET_BYTES} bytes"
    except ValueError as exc:
        return str(exc)
    return None


def _refuse(name: str, reason: str) -> SecretRefused:
    return SecretRefused(
        f"error: {name} {reason}; set it to at least {MIN_SECRET_BYTES} random bytes "
        "(`make run` writes fresh ones into .env, e.g. python -c "
        "'import secrets; print(secrets.token_urlsafe(48))')"
    )


class Settings(BaseSettings):
    """Every setting of the suite. Defaults are safe for a local machine; secrets have none."""

    # Validation errors never echo an input: a rejected setting may be a password or a key.
    model_config = SettingsConfigDict(
        env_file=".env", extra="ignore", frozen=True, hide_input_in_errors=True
    )

    database_url: str = "postgresql://postgres@127.0.0.1:5432/suite"
    database_pool_min: int = 1
    database_pool_max: int = 10
    database_command_timeout: float = 10.0

    redis_url: str = "redis://127.0.0.1:6379/0"
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    work_queue_backend: str = Field(default="redis", pattern="^(redis|amqp)$")
    work_queue_name: str = "rewards"
    work_queue_concurrency: int = 32
    work_queue_visibility_timeout: float = 30.0
    work_queue_max_attempts: int = 5
    work_queue_backoff_base: float = 1.0
    work_queue_backoff_cap: float = 300.0
    work_queue_keep_completed: int = 10_000
    work_queue_keep_failed: int = 10_000
    work_queue_priority_aging: float = Field(default=0.0, ge=0)  # s per level; 0: strict (Redis)
    work_queue_job_timeout: float = Field(default=300.0, gt=0)  # an attempt's deadline, seconds
    # Reward rules: percent of the checkout total per upline depth (1 = direct referrer),
    # point totals that reach levels 2, 3, ..., and each level's rate in percent (1 first).
    reward_percentages: list[float] = [10.0, 5.0, 3.0, 2.0, 1.0]
    reward_level_thresholds: list[int] = [1_000, 5_000, 20_000]
    reward_level_rates: list[int] = [100, 110, 125, 150]

    aws_region: str = "us-east-1"
    aws_access_key_id: str = "test"
    aws_secret_access_key: str = "test"
    sqs_endpoint_url: str = "http://127.0.0.1:4566"
    sqs_booking_request_queue_url: str = "http://127.0.0.1:4566/123456789012/booking-requests"
    sqs_booking_confirmation_queue_url: str = (
        "http://127.0.0.1:4566/123456789012/booking-confirmations"
    )

    # SQS consumers (provider_consumer, notification_consumer).
    consumer_concurrency: int = 10
    consumer_wait_time: int = Field(default=20, ge=0, le=20)
    consumer_retry_base: float = 1.0
    consumer_queue_depth_interval: float = 15.0
    # Notification channels: email is off while smtp_host is empty, webhooks while webhook_url is.
    smtp_host: str = ""
    smtp_port: int = 25
    smtp_from: str = "notifications@suite.local"
    smtp_recipient_domain: str = "users.suite.local"
    smtp_timeout: float = 10.0
    webhook_url: str = ""
    # Required while webhook_url is set: `whsec_<base64>` or a raw value (see webhook_key).
    webhook_secret: str = ""
    webhook_timeout: float = 5.0
    notification_max_attempts: int = 8
    notification_retry_base: float = 1.0

    jwt_secret: str = ""
    log_level: str = "INFO"
    # JSON log lines (true), console lines (false), or unset: console on a terminal only.
    log_json: bool | None = None

    # Host names (besides localhost, 127.0.0.1 and [::1] on its own port) under which the
    # reward worker's dashboard answers: `name` (any port) or `name:port`; comma-separated or a
    # JSON list. Any other Host header is refused, so a rebound DNS name cannot reach it.
    dashboard_allowed_hosts: Annotated[list[str], NoDecode] = []

    booking_api_port: int = 8081
    checkout_api_port: int = 8082
    provider_consumer_port: int = 9101
    notification_consumer_port: int = 9102
    reward_worker_port: int = 9103
    # Processes of each API that `make run` starts. Above 1 they all bind the API's port with
    # SO_REUSEPORT, and the kernel spreads the incoming connections over them.
    api_processes: int = Field(default=1, ge=1)

    booking_pending_ttl: float = 86_400.0
    # Seconds before a confirmed booking starts at which its user is reminded (one notice
    # per lead; a lead already past when the booking is confirmed is skipped).
    booking_reminder_leads: list[Annotated[float, Field(gt=0)]] = [86_400.0, 3_600.0]
    booking_expiry_interval: float = 5.0
    idempotency_ttl: float = 86_400.0
    # Seconds a consumer remembers a message it applied (redelivery is a no-op meanwhile):
    # longer than SQS keeps a message (4 days) plus time to redrive its dead letter.
    processed_retention: float = 14 * 86_400.0
    # Checkout: a transaction whose rewards are still pending this many seconds after its
    # reward job was queued is queued again (the job id de-duplicates), every interval.
    reward_reconcile_after: float = 300.0
    reward_reconcile_interval: float = 30.0
    outbox_poll_interval: float = 2.0
    shutdown_grace: float = 20.0

    @field_validator("dashboard_allowed_hosts", mode="before")
    @classmethod
    def _host_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @model_validator(mode="after")
    def _secrets_are_usable(self) -> Settings:
        reason = _problem(self.jwt_secret, str.encode)
        if reason:
            raise _refuse("JWT_SECRET", reason)
        if self.webhook_url:
            reason = _problem(self.webhook_secret, webhook_key)
            if reason:
                raise _refuse("WEBHOOK_SECRET", reason + " (required while WEBHOOK_URL is set)")
        return self
