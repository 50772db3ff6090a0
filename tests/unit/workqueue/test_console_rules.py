"""The console's pure rules: cursors, searches, error classes and per-minute counters."""

from __future__ import annotations

import pytest

from shared.workqueue import Job, Outcome
from shared.workqueue.console import error_class
from shared.workqueue.history import MemoryJournal, minute_counts, outcome_event
from shared.workqueue.inspect import (
    BadQuery,
    Position,
    Search,
    decode_cursor,
    encode_cursor,
    payload_field,
)


def _job(job_id: str = "j", attempt: int = 1) -> Job:
    return Job(job_id, "T", {}, 0, attempt, 0.0)


def test_a_cursor_decodes_to_the_position_it_was_made_from_and_a_forged_one_is_refused() -> None:
    position = Position(-3e12 + 17, "job:with:colons")
    assert decode_cursor(encode_cursor(position)) == position
    assert decode_cursor(None) is None
    for forged in ("not-base64!", "WzEsMl0", "eyJhIjogMX0", "WyJ4IiwgImlkIl0"):
        with pytest.raises(BadQuery):
            decode_cursor(forged)


def test_a_payload_search_follows_a_dotted_path_and_compares_text() -> None:
    job = {"id": "a", "payload": {"data": {"customer_id": "c-1", "total": 700, "ok": True}}}
    assert payload_field(job["payload"], "data.customer_id") == "c-1"
    assert payload_field(job["payload"], "data.missing.deeper") is None
    assert Search(field="data.customer_id", value="c-1").matches(job)
    assert Search(field="data.total", value="700").matches(job)
    assert Search(field="data.ok", value="true").matches(job)
    assert not Search(field="data.total", value="701").matches(job)
    assert Search(job_id="a").matches(job) and not Search(job_id="b").matches(job)
    assert Search().empty and Search().matches(job)
    with pytest.raises(BadQuery):
        Search(field="data.total")


def test_an_error_class_is_the_exception_name_before_the_message() -> None:
    assert error_class("ConnectionRefusedError: [Errno 111] refused") == "ConnectionRefusedError"
    assert error_class("KeyError: 'a: b'") == "KeyError"
    assert error_class("just text") == "just text"
    assert error_class(None) == ""


def test_outcomes_count_per_kind_with_hung_attempts_and_run_time() -> None:
    outcomes = [
        Outcome(_job("a"), "completed"),
        Outcome(_job("b"), "retry", 1.5, "E: x", hung=True),
        Outcome(_job("c"), "failed", error="E: y"),
    ]
    counts = minute_counts(outcomes, {"a": 10, "b": 30})
    assert dict(counts) == {"completed": 1, "retried": 1, "failed": 1, "hung": 1, "run_ms": 40}
    retried = outcome_event(outcomes[1], 1000)
    assert retried["event"] == "retried" and retried["retry_in_ms"] == 1500 and retried["hung"]


async def test_the_memory_journal_keeps_a_jobs_events_in_order_and_counts_the_minute() -> None:
    journal = MemoryJournal()
    job = _job("x")
    await journal.claimed([job], lambda _: 5.0)
    await journal.settled([Outcome(job, "completed")])
    events = await journal.events("x")
    assert [e["event"] for e in events] == ["claimed", "completed"]
    assert events[0]["deadline_at"] - events[0]["at"] == 5000
    (minute,) = (m for m in await journal.minutes(2) if m["completed"])
    assert minute["completed"] == 1
    await journal.forget(["x"])
    assert await journal.events("x") == []
