"""Both consumers follow a moved booking and a provider's cancel, and page their lists."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from services.notification_consumer.app import create_app as notification_app
from services.provider_consumer.app import create_app as provider_app
from shared.config import Settings
from shared.events.envelope import Envelope
from shared.http.auth import mint_token
from shared.storage.pool import Database
from tests.integration.consumers import test_notification_consumer as notices
from tests.integration.consumers import test_provider_consumer as inbox
from tests.integration.consumers.conftest import booking_event
from tests.support.http import bearer, serve
from tests.support.wait import eventually

MOVED_TO = datetime(2030, 1, 2, 9, tzinfo=UTC)


def moved(provider: str, user: str, booking_id: uuid.UUID) -> Envelope:
    return booking_event(
        "BOOKING_RESCHEDULED",
        provider_id=provider,
        user_id=user,
        booking_id=booking_id,
        starts_at=MOVED_TO,
        ends_at=MOVED_TO + timedelta(hours=1),
        from_slot_id=uuid.uuid4(),
        from_starts_at=datetime(2030, 1, 1, 9, tzinfo=UTC),
        from_ends_at=datetime(2030, 1, 1, 10, tzinfo=UTC),
        expires_at=datetime.now(UTC) + timedelta(days=1),
    )


async def pages(client: Any, path: str, headers: dict[str, str], key: str) -> list[list[str]]:
    """Every page of a list, two items a page, as ids."""
    seen, cursor = [], None
    while True:
        response = await client.get(
            f"{path}?limit=2" + (f"&cursor={cursor}" if cursor else ""), headers=headers
        )
        assert response.status == 200
        body = await response.json()
        seen.append([item[key] for item in body["items"]])
        if (cursor := body["next_cursor"]) is None:
            return seen


async def test_a_moved_booking_waits_in_the_inbox_again_at_its_new_time(
    settings: Settings, db: Database, make_queue: Any
) -> None:
    queue = await make_queue()
    provider, user, booking = f"provider-{uuid.uuid4().hex[:8]}", "u1", uuid.uuid4()
    created = booking_event(
        "BOOKING_CREATED", provider_id=provider, user_id=user, booking_id=booking
    )
    confirmed = booking_event(
        "BOOKING_CONFIRMED", provider_id=provider, user_id=user, booking_id=booking
    )
    rescheduled = moved(provider, user, booking)
    headers = bearer(mint_token(settings.jwt_secret, provider, "provider"))
    path = f"/providers/{provider}/inbox"

    async def items(client: Any) -> list[dict[str, Any]]:
        return list((await (await client.get(path, headers=headers)).json())["items"])

    async with serve(provider_app(inbox.consumer_settings(settings, queue.url))) as client:
        await queue.send([created, confirmed])
        await eventually(queue.empty, what="created and confirmed handled")
        assert await items(client) == []
        await queue.send([rescheduled])
        await eventually(lambda: _count(client, items, 1), what="the moved request is back")
        (item,) = await items(client)
        assert datetime.fromisoformat(item["starts_at"]) == MOVED_TO
        # A copy of the confirmation from before the move, late: it answered the old time.
        await queue.send([confirmed])
        await eventually(queue.empty, what="the late copy handled")
        assert len(await items(client)) == 1
        cancelled = booking_event(
            "BOOKING_CANCELLED",
            provider_id=provider,
            user_id=user,
            booking_id=booking,
            cancelled_by="provider",
            reason="ill",
        )
        await queue.send([cancelled])
        await eventually(lambda: _count(client, items, 0), what="the cancel closes it")
    async with db.acquire() as conn:
        kinds = await conn.fetch(
            "SELECT kind FROM provider_inbox.notifications WHERE recipient_id = $1", provider
        )
    # The provider hears of the request and of the move, not of its own cancel.
    assert sorted(row["kind"] for row in kinds) == ["BOOKING_CREATED", "BOOKING_RESCHEDULED"]


async def test_the_inbox_pages_soonest_first(settings: Settings, make_queue: Any) -> None:
    queue = await make_queue()
    provider = f"provider-{uuid.uuid4().hex[:8]}"
    start = datetime(2030, 1, 1, 9, tzinfo=UTC)
    events = [
        booking_event(
            "BOOKING_CREATED",
            provider_id=provider,
            user_id=f"u{i}",
            starts_at=start + timedelta(hours=i),
            ends_at=start + timedelta(hours=i + 1),
        )
        for i in range(5)
    ]
    headers = bearer(mint_token(settings.jwt_secret, provider, "provider"))
    async with serve(provider_app(inbox.consumer_settings(settings, queue.url))) as client:
        await queue.send(reversed(events))
        await eventually(queue.empty, what="requests handled")
        got = await pages(client, f"/providers/{provider}/inbox", headers, "booking_id")
    assert got == [[str(e.data["booking_id"]) for e in events[i : i + 2]] for i in (0, 2, 4)]


async def test_the_user_hears_of_a_move_and_of_the_providers_cancel_page_by_page(
    settings: Settings, make_queue: Any
) -> None:
    queue = await make_queue()
    user, booking = f"user-{uuid.uuid4().hex[:8]}", uuid.uuid4()
    rescheduled = moved("provider-1", user, booking)
    cancelled = booking_event(
        "BOOKING_CANCELLED",
        provider_id="provider-1",
        user_id=user,
        booking_id=booking,
        cancelled_by="provider",
        reason="ill",
    )
    others = [notices.outcome_event("BOOKING_CONFIRMED", user) for _ in range(3)]
    headers = bearer(mint_token(settings.jwt_secret, user, "user"))
    path = f"/users/{user}/notifications"
    async with serve(notification_app(notices.consumer_settings(settings, queue.url))) as client:
        await queue.send([rescheduled, cancelled, *others])
        await eventually(queue.empty, what="notices handled")
        body = await (await client.get(path, headers=headers)).json()
        got = await pages(client, path, headers, "id")
    by_kind = {item["kind"]: item for item in body["items"]}
    assert (
        "from 2030-01-01T09:00:00Z to 2030-01-02T09:00:00Z"
        in by_kind["BOOKING_RESCHEDULED"]["body"]
    )
    assert "The provider cancelled it." in by_kind["BOOKING_CANCELLED"]["body"]
    assert [len(page) for page in got] == [2, 2, 1]
    assert [i for page in got for i in page] == [item["id"] for item in body["items"]]


async def _count(client: Any, items: Any, n: int) -> bool:
    return len(await items(client)) == n
