"""structlog JSON lines: service, level and the correlation id bound to the request."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from shared.logging import bound_context, configure_logging, current_context, get_logger


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """Put the session's configuration back once the captured stream is gone."""
    yield
    configure_logging("tests", "WARNING", json=True)


def _lines(err: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_json_lines_carry_service_level_and_correlation_id(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("booking_api", "INFO", json=True)
    log = get_logger("test.logging.json")
    with bound_context(correlation_id="corr-42", traceparent=None):
        log.info("booking created", booking_id="b-1")
    log.info("outside the request")
    first, second = _lines(capsys.readouterr().err)
    assert first["event"] == "booking created"
    assert first["service"] == "booking_api"
    assert first["level"] == "info"
    assert first["correlation_id"] == "corr-42"
    assert first["booking_id"] == "b-1"
    assert "traceparent" not in first  # None values are not bound
    assert first["timestamp"].endswith("Z")
    assert second["service"] == "booking_api"
    assert "correlation_id" not in second
    assert current_context() == {"service": "booking_api"}


def test_lines_below_the_level_are_dropped(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("checkout_api", "WARNING", json=True)
    log = get_logger("test.logging.level")
    log.info("too chatty")
    log.warning("worth reading")
    lines = _lines(capsys.readouterr().err)
    assert [(line["event"], line["level"]) for line in lines] == [("worth reading", "warning")]


def test_standard_library_loggers_are_rendered_the_same_way(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("reward_worker", "INFO", json=True)
    with bound_context(correlation_id="corr-7"):
        logging.getLogger("some.library").warning("library says %s", "hello")
    (line,) = _lines(capsys.readouterr().err)
    assert line["event"] == "library says hello"
    assert line["service"] == "reward_worker"
    assert line["correlation_id"] == "corr-7"
    assert line["level"] == "warning"


def test_exceptions_are_rendered_inside_the_json_line(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("svc", "INFO", json=True)
    log = get_logger("test.logging.exc")
    try:
        raise RuntimeError("kaput")
    except RuntimeError:
        log.exception("it failed")
    (line,) = _lines(capsys.readouterr().err)
    assert "RuntimeError: kaput" in line["exception"]


def test_console_output_is_not_json(
    restore_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("svc", "INFO", json=False)
    get_logger("test.logging.console").info("hello console")
    err = capsys.readouterr().err
    assert "hello console" in err
    with pytest.raises(json.JSONDecodeError):
        json.loads(err.splitlines()[0])
