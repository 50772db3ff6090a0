"""Listing a work queue's jobs by state, a page at a time, with search: the console's reads.

    page = await list_jobs(queue, "failed", limit=50, cursor=None, search=Search(field=...))
    page.items, page.cursor  # the next page with cursor=page.cursor; None: no more

Cursors are opaque to callers (base64 of a position: a sort score and a job id, so a page
starts after the last job shown even when jobs come and go). A search reads at most
SCAN_LIMIT jobs per call; a page that ran out of them before filling says so in
`scanned` and carries on from its cursor.

Redis lists every state. RabbitMQ lists what it can read without disturbing it: the failed
set and the delayed jobs (both are read and put back on a channel of their own). It cannot
list waiting jobs (a read and put back marks them redelivered, which the backend counts as
a lost attempt), running jobs (held by the workers' connections) or completed ones (an
acknowledged message is gone); their counts show where the broker knows them.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass, field
from typing import Any

from shared.workqueue.base import STATES, WorkQueue
from shared.workqueue.history import journal_for

SCAN_LIMIT = 5_000
MAX_LIMIT = 200


class BadQuery(ValueError):
    """A cursor not made here, an unknown state, or a malformed search."""


@dataclass(frozen=True)
class Position:
    score: float
    job_id: str


@dataclass(frozen=True)
class Search:
    """Match a job id exactly, or a payload field (a dotted path) equal to a value."""

    job_id: str | None = None
    field: str | None = None
    value: str | None = None

    def __post_init__(self) -> None:
        if (self.field is None) != (self.value is None):
            raise BadQuery("a payload search needs both a field and a value")

    @property
    def empty(self) -> bool:
        return self.job_id is None and self.field is None

    def matches(self, job: dict[str, Any]) -> bool:
        if self.job_id is not None and job.get("id") != self.job_id:
            return False
        if self.field is not None:
            found = payload_field(job.get("payload"), self.field)
            return found is not None and _text(found) == self.value
        return True


@dataclass
class Page:
    state: str
    items: list[dict[str, Any]]
    cursor: str | None
    scanned: int = 0
    listable: bool = True
    reason: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = {
            "state": self.state,
            "items": self.items,
            "cursor": self.cursor,
            "scanned": self.scanned,
            "listable": self.listable,
        }
        if self.reason:
            out["reason"] = self.reason
        return out


def payload_field(payload: Any, path: str) -> Any:
    """`payload["a"]["b"]` for path "a.b" (None when a step is missing)."""
    value = payload
    for step in path.split("."):
        if not isinstance(value, dict) or step not in value:
            return None
        value = value[step]
    return value


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def encode_cursor(position: Position) -> str:
    raw = json.dumps([position.score, position.job_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> Position | None:
    if not cursor:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        score, job_id = json.loads(raw)
        if not isinstance(job_id, str) or not isinstance(score, int | float):
            raise ValueError("bad position")
        return Position(float(score), job_id)
    except (ValueError, TypeError, binascii.Error):
        raise BadQuery("the cursor is not valid") from None


async def list_jobs(
    queue: WorkQueue,
    state: str,
    *,
    limit: int = 50,
    cursor: str | None = None,
    search: Search | None = None,
) -> Page:
    """One page of the jobs in `state`, in the order they leave it (waiting: next first;
    active: by visibility deadline; delayed: soonest due; failed, completed: newest)."""
    if state not in STATES:
        raise BadQuery(f"unknown state {state!r}: one of {', '.join(STATES)}")
    if not 1 <= limit <= MAX_LIMIT:
        raise BadQuery(f"limit must be within 1..{MAX_LIMIT}")
    after = decode_cursor(cursor)
    search = search or Search()
    if queue.backend == "redis":
        from shared.workqueue.inspect_redis import list_redis

        page = await list_redis(queue, state, limit, after, search)
    else:
        from shared.workqueue.inspect_amqp import list_amqp

        page = await list_amqp(queue, state, limit, after, search)
    if state == "active" and page.items:
        await _add_workers(queue, page.items)
    return page


async def job_page(queue: WorkQueue, job_id: str) -> dict[str, Any] | None:
    """A job's data, attempts, error and its events (None when neither is known)."""
    if queue.backend == "redis":
        job = await queue.inspect(job_id)
    else:
        from shared.workqueue.inspect_amqp import find_amqp

        job = await find_amqp(queue, job_id)
    events = await journal_for(queue).events(job_id)
    if job is None and not events:
        return None
    # Known only by its events: removed or trimmed (Redis), or where RabbitMQ cannot look.
    job = job or {"id": job_id, "state": "unknown", "payload": None, "history": []}
    enqueued = job.get("enqueued_at")
    head = [{"event": "enqueued", "at": int(enqueued * 1000)}] if enqueued else []
    return {**job, "events": head + events}


async def present(queue: WorkQueue, job_ids: list[str]) -> dict[str, str]:
    """The state of each of `job_ids` the broker holds (RabbitMQ: "held", it cannot say which)."""
    if not job_ids:
        return {}
    if queue.backend == "redis":
        from shared.workqueue.inspect_redis import states_redis

        return await states_redis(queue, job_ids)
    from shared.workqueue.inspect_amqp import held_amqp

    return await held_amqp(queue, job_ids)


async def _add_workers(queue: WorkQueue, items: list[dict[str, Any]]) -> None:
    last = await journal_for(queue).last_events([item["id"] for item in items])
    for item in items:
        event = last.get(item["id"])
        if event and event.get("event") == "claimed":
            item["worker"] = event.get("worker")
            if "deadline_at" in event:
                item["deadline_at"] = event["deadline_at"] / 1000
