"""Reminders of confirmed bookings, end to end: booking_api's outbox relay, the SQS server,
notification_consumer. A reminder arrives once; one whose booking changed is never sent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from services.booking_api.typedefs import SCHEMA
from services.notification_consumer.app import create_app as notification_app
from shared.config import Settings
from shared.http.auth import mint_token
from shared.storage.pool import Database
from tests.integration.booking.api import BookingApi, running, unique
from tests.support.http import bearer, serve
from tests.support.wait import eventually

STARTS_IN = 20.0  # seconds from now to the slots' start
LEAD = 15.0  # so the reminders fall due about five seconds from now
SUPERSEDED = 'outbox_superseded_total{destination="booking-confirmation"}'


async def confirmed(api: BookingApi, user: str, *, zone: str | None = None) -> str:
    provider = unique("provider")
    starts = datetime.now(UTC) + timedelta(seconds=STARTS_IN)
    slot = await api.client.post(
        f"/providers/{provider}/slots",
        json={
            "starts_at": starts.isoformat(),
            "ends_at": (starts + timedelta(hours=1)).isoformat(),
            "time_zone": zone,
        },
        headers=api.auth(provider, "provider"),
    )
    assert slot.status == 201, await slot.text()
    booking = await api.booked(user, (await slot.json())["id"])
    assert (await api.answer(provider, booking["id"], "accept")).status == 200
    return str(booking["id"])


async def reminder_rows(db: Database, booking_id: str) -> list[Any]:
    async with db.acquire() as conn:
        return list(
            await conn.fetch(
                f"""SELECT available_at, sent_at, superseded_at, guard_stream, guard_version
                    FROM {SCHEMA}.outbox
                    WHERE message_type = 'BOOKING_REMINDER' AND body->>'subject' = $1""",
                booking_id,
            )
        )


async def metric(api: BookingApi, name: str) -> float:
    text = await (await api.client.get("/metrics")).text()
    line = next((x for x in text.splitlines() if x.startswith(name + " ")), None)
    return 0.0 if line is None else float(line.split()[-1])


async def test_a_reminder_arrives_once_and_never_after_its_booking_is_cancelled(
    own_queues: Settings, db: Database
) -> None:
    # The one-hour lead is already past for slots starting in 20 s: it is skipped.
    settings = own_queues.model_copy(
        update={
            "booking_reminder_leads": [LEAD, 3600.0],
            "consumer_wait_time": 1,
            "consumer_retry_base": 0.0,
            "outbox_poll_interval": 0.2,
        }
    )
    kept_user, cancelled_user = unique("user"), unique("user")
    async with running(settings) as api, serve(notification_app(settings)) as notices:

        async def reminders_of(user: str) -> list[dict[str, Any]]:
            headers = bearer(mint_token(settings.jwt_secret, user, "user"))
            response = await notices.get(f"/users/{user}/notifications", headers=headers)
            items: list[dict[str, Any]] = (await response.json())["items"]
            return [item for item in items if item["kind"] == "BOOKING_REMINDER"]

        superseded_before = await metric(api, SUPERSEDED)
        kept = await confirmed(api, kept_user, zone="Europe/Berlin")
        cancelled = await confirmed(api, cancelled_user)
        assert (await api.cancel(cancelled_user, cancelled, "cannot come")).status == 200

        for booking in (kept, cancelled):
            (row,) = await reminder_rows(db, booking)  # one lead ahead, one row
            assert row["sent_at"] is None and row["available_at"] > datetime.now(UTC)
            assert (row["guard_stream"], row["guard_version"]) == (f"booking-{booking}", 2)

        async def both_settled() -> bool:
            (sent,) = await reminder_rows(db, kept)
            (dropped,) = await reminder_rows(db, cancelled)
            settled = sent["sent_at"] and dropped["superseded_at"]
            return bool(settled and await reminders_of(kept_user))

        await eventually(both_settled, timeout=30, what="one reminder sent, one superseded")
        (dropped,) = await reminder_rows(db, cancelled)
        # Its due time has passed and the relay set it aside: no notice can come of it now.
        assert dropped["available_at"] <= dropped["superseded_at"]
        assert await reminders_of(cancelled_user) == []
        (notice,) = await reminders_of(kept_user)
        assert await metric(api, SUPERSEDED) - superseded_before >= 1
    assert notice["subject"] == "Reminder: your booking starts in 15 seconds"
    assert "(Europe/Berlin)" in notice["body"] and kept in notice["body"]
    (sent,) = await reminder_rows(db, kept)
    assert sent["superseded_at"] is None
