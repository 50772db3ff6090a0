"""Typed configuration, read from the environment (and `.env` when present)."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every setting of the suite. Defaults are safe for a local machine."""

    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

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
    webhook_secret: str = "local-webhook-secret-change-me"
    webhook_timeout: float = 5.0
    notification_max_attempts: int = 8
    notification_retry_base: float = 1.0

    jwt_secret: str = "local-development-secret-change-me-0123456789"
    log_level: str = "INFO"
    # JSON log lines (true), console lines (false), or unset: console on a terminal only.
    log_json: bool | None = None

    booking_api_port: int = 8081
    checkout_api_port: int = 8082
    provider_consumer_port: int = 9101
    notification_consumer_port: int = 9102
    reward_worker_port: int = 9103

    booking_pending_ttl: float = 86_400.0
    booking_expiry_interval: float = 5.0
    idempotency_ttl: float = 86_400.0
    # Checkout: a transaction whose rewards are still pending this many seconds after its
    # reward job was queued is queued again (the job id de-duplicates), every interval.
    reward_reconcile_after: float = 300.0
    reward_reconcile_interval: float = 30.0
    outbox_poll_interval: float = 2.0
    shutdown_grace: float = 20.0
