"""A booking confirmed, moved, confirmed again and cancelled, seen by the user and provider."""

from __future__ import annotations

from typing import Any

from services.notification_consumer.app import create_app as notification_app
from services.provider_consumer.app import create_app as provider_app
from shared.config import Settings
from shared.http.auth import mint_token
from tests.integration.booking.api import running, unique
from tests.support.http import bearer, serve
from tests.support.wait import eventually

STEPS = ["BOOKING_CONFIRMED", "BOOKING_RESCHEDULED", "BOOKING_CONFIRMED", "BOOKING_CANCELLED"]


async def test_every_step_of_a_moved_booking_reaches_its_history_inbox_and_user_once(
    own_queues: Settings,
) -> None:
    settings = own_queues.model_copy(
        update={"consumer_wait_time": 1, "consumer_retry_base": 0.0, "outbox_poll_interval": 0.2}
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
        history = await (await api.get(f"/bookings/{booking}/history", user, "user")).json()
        told = await kinds()
    assert [e["event_type"] for e in history["entries"]] == ["BOOKING_CREATED", *steps]
    # One notice per step (SQS keeps no order, so they may be stored in another).
    assert sorted(told) == sorted(steps)
