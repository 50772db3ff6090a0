"""Settings from environment variables."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from shared.config import Settings


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", "postgresql://app@db:5432/suite")
    monkeypatch.setenv("REDIS_URL", "redis://cache:6379/1")
    monkeypatch.setenv("AMQP_URL", "amqp://u:p@mq:5672/")
    monkeypatch.setenv("WORK_QUEUE_BACKEND", "amqp")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("SQS_ENDPOINT_URL", "")
    monkeypatch.setenv("SQS_BOOKING_REQUEST_QUEUE_URL", "https://sqs/1/requests")
    monkeypatch.setenv("SQS_BOOKING_CONFIRMATION_QUEUE_URL", "https://sqs/1/confirmations")
    monkeypatch.setenv("JWT_SECRET", "s" * 40)
    monkeypatch.setenv("LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("BOOKING_API_PORT", "18081")
    monkeypatch.setenv("REWARD_WORKER_PORT", "19103")
    monkeypatch.setenv("DATABASE_COMMAND_TIMEOUT", "2.5")
    settings = Settings(_env_file=None)
    assert settings.database_url == "postgresql://app@db:5432/suite"
    assert settings.redis_url == "redis://cache:6379/1"
    assert settings.amqp_url == "amqp://u:p@mq:5672/"
    assert settings.work_queue_backend == "amqp"
    assert settings.aws_region == "eu-west-1"
    assert settings.sqs_endpoint_url == ""
    assert settings.sqs_booking_request_queue_url == "https://sqs/1/requests"
    assert settings.sqs_booking_confirmation_queue_url == "https://sqs/1/confirmations"
    assert settings.jwt_secret == "s" * 40
    assert settings.log_level == "DEBUG"
    assert (settings.booking_api_port, settings.reward_worker_port) == (18081, 19103)
    assert settings.database_command_timeout == 2.5


def test_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("checkout_api_port", "18082")
    assert Settings(_env_file=None).checkout_api_port == 18082


def test_defaults_are_the_local_ports_of_the_contract(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("BOOKING_API_PORT", "CHECKOUT_API_PORT", "WORK_QUEUE_BACKEND"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings(_env_file=None)
    assert (settings.booking_api_port, settings.checkout_api_port) == (8081, 8082)
    assert (settings.provider_consumer_port, settings.notification_consumer_port) == (9101, 9102)
    assert settings.reward_worker_port == 9103
    assert settings.work_queue_backend == "redis"


@pytest.mark.parametrize("backend", ["kafka", "", "REDIS ", "redis,amqp"])
def test_an_unknown_work_queue_backend_is_rejected(
    monkeypatch: pytest.MonkeyPatch, backend: str
) -> None:
    monkeypatch.setenv("WORK_QUEUE_BACKEND", backend)
    with pytest.raises(ValidationError, match="work_queue_backend"):
        Settings(_env_file=None)


def test_a_port_that_is_not_a_number_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BOOKING_API_PORT", "eighty")
    with pytest.raises(ValidationError, match="booking_api_port"):
        Settings(_env_file=None)


def test_settings_are_immutable() -> None:
    settings = Settings(_env_file=None)
    with pytest.raises(ValidationError):
        settings.log_level = "DEBUG"  # type: ignore[misc]


@pytest.mark.parametrize(("value", "expected"), [("true", True), ("false", False)])
def test_log_format_is_chosen_by_log_json(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: bool
) -> None:
    monkeypatch.setenv("LOG_JSON", value)
    assert Settings(_env_file=None).log_json is expected


def test_log_format_follows_the_terminal_when_log_json_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LOG_JSON", raising=False)
    assert Settings(_env_file=None).log_json is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", []),
        ("ops.example", ["ops.example"]),
        (" ops.example , board.example:8443 ", ["ops.example", "board.example:8443"]),
        ('["ops.example"]', ["ops.example"]),
    ],
)
def test_dashboard_hosts_are_a_comma_separated_or_json_list(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: list[str]
) -> None:
    monkeypatch.setenv("DASHBOARD_ALLOWED_HOSTS", value)
    assert Settings(_env_file=None).dashboard_allowed_hosts == expected
