"""notification_consumer against real SQS, PostgreSQL, a real SMTP and a real HTTP server."""

from __future__ import annotations

import email
import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from services.notification_consumer.app import create_app
from shared.config import Settings
from shared.events.checkout import LevelUpgraded, RewardCredit, RewardsDistributed
from shared.http.auth import mint_token
from shared.messaging.channels import ID_HEADER, verify
from shared.storage.pool import Database
from tests.integration.consumers.conftest import booking_event, envelope_of, processed
from tests.support.http import bearer, serve
from tests.support.sqs_server import free_port
from tests.support.wait import eventually

CONSUMER = "notification_consumer"
OUTCOMES = ["BOOKING_CONFIRMED", "BOOKING_REJECTED", "BOOKING_CANCELLED", "BOOKING_EXPIRED"]


def consumer_settings(settings: Settings, queue_url: str, **changes: Any) -> Settings:
    return settings.model_copy(
        update={
            "sqs_booking_confirmation_queue_url": queue_url,
            "consumer_wait_time": 1,
            "consumer_concurrency": 20,
            "consumer_retry_base": 0.0,
            **changes,
        }
    )


class Mailbox:
    def __init__(self) -> None:
        self.messages: list[email.message.Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(email.message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp() -> Iterator[tuple[Mailbox, int]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield mailbox, port
    controller.stop()


class WebhookReceiver:
    def __init__(self, secret: str) -> None:
        self.secret = secret
        self.failing = True
        self.refused = 0
        self.received: list[dict[str, Any]] = []

    async def handle(self, request: web.Request) -> web.Response:
        if self.failing:
            self.refused += 1
            return web.Response(status=503)
        body = await request.read()
        signed = verify(self.secret, request.headers, body)
        self.received.append(
            {"id": request.headers[ID_HEADER], "signed": signed, "body": json.loads(body)}
        )
        return web.Response(status=204)


def outcome_event(type_: str, user_id: str) -> Any:
    extra = (
        {"reason": "no longer needed"} if type_ in ("BOOKING_REJECTED", "BOOKING_CANCELLED") else {}
    )
    return booking_event(type_, provider_id="provider-1", user_id=user_id, **extra)


async def test_thousand_notices_each_delivered_twice_are_each_recorded_once(
    settings: Settings, db: Database, make_queue: Any
) -> None:
    queue = await make_queue()
    users = [f"user-{uuid.uuid4().hex[:8]}" for _ in range(20)]
    events = [outcome_event(OUTCOMES[i % 4], users[i % 20]) for i in range(1000)]

    async with serve(create_app(consumer_settings(settings, queue.url))):
        assert await queue.feed_twice(events) == 2000
        await eventually(lambda: _all_deleted(queue), timeout=60, what="all deleted")
        assert await queue.empty()

    assert await processed(db, "notifications", CONSUMER, [e.id for e in events]) == 1000
    async with db.acquire() as conn:
        rows = await conn.fetch(
            "SELECT event_id, count(*) AS n FROM notifications.notifications "
            "WHERE recipient_id = ANY($1) GROUP BY event_id",
            users,
        )
    assert len(rows) == 1000
    assert {row["n"] for row in rows} == {1}
    assert await queue.dead_letters() == 0


async def test_each_notice_reaches_email_and_a_signed_webhook_once_even_if_the_webhook_was_down(
    settings: Settings, make_queue: Any, smtp: tuple[Mailbox, int]
) -> None:
    mailbox, smtp_port = smtp
    receiver = WebhookReceiver(settings.webhook_secret)
    hook = web.Application()
    hook.router.add_post("/hook", receiver.handle)
    queue = await make_queue()
    user, sponsor = f"user-{uuid.uuid4().hex[:8]}", f"customer-{uuid.uuid4().hex[:8]}"
    confirmed = outcome_event("BOOKING_CONFIRMED", user)
    upgraded = envelope_of(
        "LEVEL_UPGRADED",
        LevelUpgraded(customer_id=sponsor, old_level=1, new_level=2, total_points=1500),
        subject=sponsor,
    )
    rewarded = envelope_of(
        "REWARDS_DISTRIBUTED",
        RewardsDistributed(
            transaction_id=uuid.uuid4(),
            buyer_id=user,
            total=10_000,
            credits=[RewardCredit(customer_id=sponsor, depth=1, points=300)],
        ),
        subject=user,
    )

    async with serve(hook) as hook_client:
        url = str(hook_client.make_url("/hook"))
        app_settings = consumer_settings(
            settings,
            queue.url,
            smtp_host="127.0.0.1",
            smtp_port=smtp_port,
            webhook_url=url,
            notification_retry_base=0.05,
        )
        async with serve(create_app(app_settings)) as client:
            await queue.send([confirmed, upgraded, rewarded], copies=2)
            # The webhook is down: email is not held up by it.
            await eventually(lambda: _count(mailbox.messages, 3), what="three emails")
            await eventually(lambda: _at_least(receiver, 2), what="webhook retried")
            receiver.failing = False
            await eventually(lambda: _count(receiver.received, 3), timeout=15, what="webhooks")

            token = bearer(mint_token(settings.jwt_secret, user, "user"))
            response = await client.get(f"/users/{user}/notifications", headers=token)
            (notice,) = (await response.json())["items"]
            assert notice["kind"] == "BOOKING_CONFIRMED"
            await eventually(
                lambda: _channels(client, user, token, {"email": "sent", "webhook": "sent"}),
                what="both channels recorded as sent",
            )

    assert len(mailbox.messages) == 3
    assert len({m["Message-ID"] for m in mailbox.messages}) == 3
    assert len(receiver.received) == 3
    by_recipient = {m["To"]: m for m in mailbox.messages}
    mail = by_recipient[f"{user}@{settings.smtp_recipient_domain}"]
    assert mail["Subject"] == "Your booking is confirmed"
    assert str(confirmed.data["booking_id"]) in mail.get_payload()
    assert all(hook["signed"] for hook in receiver.received)
    assert len({hook["id"] for hook in receiver.received}) == 3
    kinds = sorted(hook["body"]["kind"] for hook in receiver.received)
    assert kinds == ["BOOKING_CONFIRMED", "LEVEL_UPGRADED", "REWARDS_DISTRIBUTED"]
    reward = next(h for h in receiver.received if h["body"]["kind"] == "REWARDS_DISTRIBUTED")
    assert reward["body"]["recipient_id"] == sponsor
    assert reward["body"]["subject"] == "You earned 300 tree points"


async def test_a_user_reads_only_their_own_notifications_and_an_admin_reads_any(
    settings: Settings, make_queue: Any
) -> None:
    queue = await make_queue()
    user = f"user-{uuid.uuid4().hex[:8]}"
    secret = settings.jwt_secret
    path = f"/users/{user}/notifications"
    async with serve(create_app(consumer_settings(settings, queue.url))) as client:
        await queue.send([outcome_event("BOOKING_REJECTED", user)])
        own = bearer(mint_token(secret, user, "user"))
        await eventually(lambda: _items(client, path, own, 1), what="notice stored")
        response = await client.get(path, headers=own)
        (notice,) = (await response.json())["items"]
        assert notice["subject"] == "Your booking was declined"
        assert "Reason: no longer needed" in notice["body"]
        assert notice["channels"] == {}
        other = bearer(mint_token(secret, "someone-else", "user"))
        assert (await client.get(path, headers=other)).status == 403
        assert (await client.get(path)).status == 401
        admin = bearer(mint_token(secret, "root", "admin"))
        assert await _items(client, path, admin, 1)


async def _count(items: list[Any], n: int) -> bool:
    assert len(items) <= n, f"more than {n}: {len(items)}"
    return len(items) == n


async def _at_least(receiver: WebhookReceiver, n: int) -> bool:
    return receiver.refused >= n


async def _items(client: Any, path: str, headers: dict[str, str], n: int) -> bool:
    response = await client.get(path, headers=headers)
    return response.status == 200 and len((await response.json())["items"]) == n


async def _channels(client: Any, user: str, headers: dict[str, str], expected: Any) -> bool:
    response = await client.get(f"/users/{user}/notifications", headers=headers)
    return bool((await response.json())["items"][0]["channels"] == expected)


async def _all_deleted(queue: Any) -> bool:
    return bool(queue.deleted() == 2000)


async def test_a_reminder_is_told_unless_its_booking_has_started_when_it_arrives(
    settings: Settings, db: Database, make_queue: Any
) -> None:
    queue = await make_queue()
    user = f"user-{uuid.uuid4().hex[:8]}"
    now = datetime.now(UTC)

    def reminder(starts_at: datetime) -> Any:
        return booking_event(
            "BOOKING_REMINDER",
            provider_id="provider-1",
            user_id=user,
            starts_at=starts_at,
            ends_at=starts_at + timedelta(hours=1),
            time_zone="America/New_York",
            lead_seconds=3600.0,
            remind_at=starts_at - timedelta(hours=1),
        )

    ahead, late = reminder(now + timedelta(minutes=59)), reminder(now - timedelta(minutes=1))
    async with serve(create_app(consumer_settings(settings, queue.url))) as client:
        await queue.send([ahead, late])
        await eventually(lambda: _handled(db, [ahead.id, late.id]), what="both reminders handled")
        token = bearer(mint_token(settings.jwt_secret, user, "user"))
        response = await client.get(f"/users/{user}/notifications", headers=token)
        (notice,) = (await response.json())["items"]
    assert notice["kind"] == "BOOKING_REMINDER"
    assert notice["subject"] == "Reminder: your booking starts in 1 hour"
    assert str(ahead.data["booking_id"]) in notice["body"]
    assert "(America/New_York)" in notice["body"]
    assert await queue.dead_letters() == 0


async def _handled(db: Database, ids: list[uuid.UUID]) -> bool:
    return await processed(db, "notifications", CONSUMER, ids) == len(ids)
