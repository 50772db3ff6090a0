"""Transactional outbox: messages are written with the state change, then relayed.

`add()` runs inside the caller's transaction. The relay (shared.messaging.relay) publishes
the unsent rows through a `Publisher` per destination.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from shared.events.envelope import Envelope
from shared.logging import get_logger

log = get_logger(__name__)


@dataclass(frozen=True)
class OutboxMessage:
    id: int
    destination: str
    message_id: str
    message_type: str
    body: dict[str, Any]
    attributes: dict[str, str] = field(default_factory=dict)
    attempts: int = 0


class Publisher(Protocol):
    """Sends messages to one kind of broker."""

    max_batch: int

    async def publish(self, destination: str, messages: list[OutboxMessage]) -> dict[int, str]:
        """Send the messages; return {outbox id: error} for the ones that failed."""
        ...


async def add(
    conn: asyncpg.Connection,
    schema: str,
    destination: str,
    envelope: Envelope,
    *,
    delay: float = 0.0,
    attributes: dict[str, str] | None = None,
) -> None:
    """Write an event to the outbox, inside the caller's transaction."""
    attrs = {"eventType": envelope.type}
    if envelope.correlationid:
        attrs["correlationId"] = envelope.correlationid
    if envelope.traceparent:
        attrs["traceparent"] = envelope.traceparent
    attrs.update(attributes or {})
    await conn.execute(
        f"""INSERT INTO {schema}.outbox
                (destination, message_id, message_type, body, attributes, available_at)
            VALUES ($1, $2, $3, $4::jsonb, $5::jsonb, now() + make_interval(secs => $6))""",
        destination,
        envelope.id,
        envelope.type,
        envelope.model_dump_json(),
        json.dumps(attrs),
        delay,
    )
