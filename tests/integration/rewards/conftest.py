"""Checkout rows for reward tests, written straight into checkout's tables."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import asyncpg
import pytest

from shared.config import Settings
from shared.events.checkout import CheckoutCompleted
from shared.events.envelope import make_envelope
from shared.messaging.sqs import provision_queues, sqs_client
from tests.support.audit import money_audit_fixture

# The money invariants hold after every module of this folder (make audit).
audit_money = money_audit_fixture()


@dataclass(frozen=True)
class Chain:
    """A referral chain: members[0] is the root, members[-1] the buyer at the bottom."""

    members: list[uuid.UUID]

    @property
    def buyer(self) -> uuid.UUID:
        return self.members[-1]

    def upline(self, customer: uuid.UUID) -> list[uuid.UUID]:
        """Nearest first."""
        index = self.members.index(customer)
        return list(reversed(self.members[:index]))


async def create_chain(conn: asyncpg.Connection, length: int, prefix: str = "m") -> Chain:
    rows = []
    members: list[uuid.UUID] = []
    for i in range(length):
        member = uuid.uuid4()
        referrer = members[-1] if members else None
        rows.append((member, f"{prefix}{i}", referrer))
        members.append(member)
    # Parents first: checkout derives the upline from the referrer.
    await conn.executemany(
        "INSERT INTO checkout.customers (id, name, referrer_id) VALUES ($1, $2, $3)", rows
    )
    return Chain(members)


async def create_transactions(
    conn: asyncpg.Connection, purchases: list[tuple[uuid.UUID, int]]
) -> list[uuid.UUID]:
    """One pending transaction per (buyer, total); returns their ids in order."""
    ids = [uuid.uuid4() for _ in purchases]
    await conn.copy_records_to_table(
        "transactions",
        schema_name="checkout",
        columns=["id", "customer_id", "total", "balance_after"],
        records=[(tx, buyer, total, 0) for tx, (buyer, total) in zip(ids, purchases, strict=True)],
    )
    return ids


def reward_job(transaction_id: uuid.UUID, buyer: uuid.UUID, total: int) -> dict[str, object]:
    """The CHECKOUT_COMPLETED envelope that checkout_api queues, as the job's payload."""
    payload = CheckoutCompleted(transaction_id=transaction_id, customer_id=str(buyer), total=total)
    envelope = make_envelope(payload, source="checkout_api", subject=str(transaction_id))
    return envelope.model_dump(mode="json")


@pytest.fixture
async def worker_settings(settings: Settings) -> Settings:
    """Settings of an in-process reward_worker: its own work queue and its own SQS queue for
    reward notices, so other tests' consumers never see the notices it relays."""
    suffix = uuid.uuid4().hex[:10]
    base = settings.sqs_booking_confirmation_queue_url.rsplit("/", 1)[0]
    private = settings.model_copy(
        update={
            "work_queue_name": f"rewards-{suffix}",
            "sqs_booking_confirmation_queue_url": f"{base}/reward-notices-{suffix}",
        }
    )
    async with sqs_client(private) as sqs:
        await provision_queues(sqs, [private.sqs_booking_confirmation_queue_url])
    return private


async def mark_notices_sent(conn: asyncpg.Connection, subjects: list[uuid.UUID]) -> None:
    """Take a test's reward notices out of the shared outbox once it has checked them."""
    await conn.execute(
        """UPDATE checkout.outbox SET sent_at = now()
           WHERE sent_at IS NULL AND body->>'subject' = ANY($1::text[])""",
        [str(s) for s in subjects],
    )
