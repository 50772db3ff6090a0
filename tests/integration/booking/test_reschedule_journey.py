"""A booking confirmed, moved, confirmed again and cancelled, seen by the user and provider."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.booking_api.typedefs import SCHEMA
from services.notification_consumer.app import create_app as notification_app
from services.provider_consumer.app import create_app as provider_app
from shared.config import Settings
from shared.http.auth import mint_token
from shared.storage.pool import Database
from tests.integration.booking.api import running, unique
from tests.support.http import bearer, serve
from tests.support.wait import eventually

STEPS = ["BOOKING_CONFIRMED", "BOOKING_RESCHEDULED", "BOOKING_CONFIRMED", "BOOKING_CANCELLED"]
REMINDER_LEAD = 86_400.0 - 6.0


async def test_every_step_of_a_moved_booking_reaches_its_history_inbox_and_user_once(
    own_queues: Settings, db: Database
) -> None:
    # The first slot starts 24 h after it is made: its reminder falls due a few seconds into
    # the test, after the booking has left it. The second slot's falls due an hour later.
    settings = own_queues.model_copy(
        update={
            "consumer_wait_time": 1,
            "consumer_retry_base": 0.0,
            "outbox_poll_interval": 0.2,
            "booking_reminder_leads": [REMINDER_LEAD],
        }
    )
    provider, user = unique("provider"), unique("user")
    async with (
        running(settings) as api,
        serve(provider_app(settings)) as inbox,
        serve(notification_app(settings)) as notices,
    ):
        first, second = await api.create_slot(provider), await api.create_slot(provider)
        booking = (await api.booked(user, first["id"]))["id"]
        assert (await api.answer(provider, booking, "accept")).status == 200
        moved = await api.client.post(
            f"/bookings/{booking}/reschedule",
            json={"slot_id": second["id"]},
            headers=api.auth(user, "user"),
        )
        assert moved.status == 200

        async def waiting() -> list[str]:
            headers = bearer(mint_token(settings.jwt_secret, provider, "provider"))
            body = await (await inbox.get(f"/providers/{provider}/inbox", headers=headers)).json()
            return [item["booking_id"] for item in body["items"]]

        async def back_in_inbox() -> bool:
            return await waiting() == [booking]

        await eventually(back_in_inbox, timeout=20, what="the moved request waits again")
        assert (await api.answer(provider, booking, "accept")).status == 200
        assert (await api.cancel(user, booking, "plans changed")).status == 200

        async def kinds() -> list[str]:
            headers = bearer(mint_token(settings.jwt_secret, user, "user"))
            response = await notices.get(f"/users/{user}/notifications", headers=headers)
            items: list[dict[str, Any]] = (await response.json())["items"]
            return [item["kind"] for item in reversed(items)]

        steps = [
            "BOOKING_CONFIRMED",
            "BOOKING_RESCHEDULED",
            "BOOKING_CONFIRMED",
            "BOOKING_CANCELLED",
        ]

        async def all_told() -> bool:
            return len(await kinds()) >= len(steps) and await waiting() == []

        await eventually(all_told, timeout=30, what="every step told, the inbox empty")

        async def left_slot_reminder_superseded() -> bool:
            async with db.acquire() as conn:
                return bool(
                    await conn.fetchval(
                        f"""SELECT superseded_at IS NOT NULL FROM {SCHEMA}.outbox
                            WHERE message_type = 'BOOKING_REMINDER' AND body->>'subject' = $1
                              AND guard_version = 2""",
                        booking,
                    )
                )

        # The reminder of the slot it left fell due and was set aside, never sent.
        await eventually(left_slot_reminder_superseded, timeout=30, what="old reminder dropped")
        history = await (await api.get(f"/bookings/{booking}/history", user, "user")).json()
        told = await kinds()
        async with db.acquire() as conn:
            scheduled = await conn.fetch(
                f"""SELECT guard_version, body->'data'->>'starts_at' AS starts_at
                    FROM {SCHEMA}.outbox
                    WHERE message_type = 'BOOKING_REMINDER' AND body->>'subject' = $1
                    ORDER BY guard_version""",
                booking,
            )
    assert [e["event_type"] for e in history["entries"]] == ["BOOKING_CREATED", *steps]
    # One notice per step (SQS keeps no order, so they may be stored in another), and no
    # reminder for the slot it left.
    assert sorted(told) == sorted(steps)
    # Confirmed again at its new time: reminded of that one, under the new version.
    assert [(r["guard_version"], datetime.fromisoformat(r["starts_at"])) for r in scheduled] == [
        (2, datetime.fromisoformat(first["starts_at"])),
        (4, datetime.fromisoformat(second["starts_at"])),
    ]
