"""The booking commands against a unit of work in memory: load, decide, record, publish."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import pytest

from services.booking_api import commands
from services.booking_api.domain import InvalidTransition, SlotStatus, Status
from shared.errors import Conflict, NotFound, Problem
from shared.events.envelope import Trace
from shared.messaging.destinations import PROVIDER_EVENTS, USER_NOTICES
from tests.unit.booking.fakes import FakeUnitOfWork

TRACE = Trace("corr-1", "00-trace-span-01")


async def slot(uow: FakeUnitOfWork, provider: str = "p-1") -> uuid.UUID:
    # One hour after the provider's last slot: a calendar never overlaps.
    starts = uow.now + timedelta(days=1, hours=len(uow.slots))
    return await commands.create_slot(
        uow, provider, starts, starts + timedelta(hours=1), provider, TRACE
    )


async def pending(uow: FakeUnitOfWork, user: str = "u-1") -> uuid.UUID:
    return await commands.book(uow, await slot(uow), user, "window seat", 3600, TRACE)


async def move(uow: FakeUnitOfWork, booking_id: uuid.UUID, target: Status) -> None:
    booking = await commands.load(uow, booking_id)
    await commands.change_status(uow, booking, target, "actor", TRACE, reason="because")


async def test_a_new_slot_is_open_and_recorded_but_published_nowhere() -> None:
    uow = FakeUnitOfWork()
    slot_id = await slot(uow)
    assert uow.slots[slot_id].status is SlotStatus.OPEN
    assert [e.type for e in uow.streams[f"slot-{slot_id}"]] == ["SLOT_CREATED"]
    assert uow.published == []


async def test_booking_holds_the_slot_and_tells_only_the_provider() -> None:
    uow = FakeUnitOfWork()
    booking_id = await pending(uow)
    booking = uow.bookings[booking_id]
    assert booking.status is Status.PENDING
    assert uow.slots[booking.slot_id].status is SlotStatus.HELD
    assert uow.destinations("BOOKING_CREATED") == {PROVIDER_EVENTS}
    (event,) = uow.streams[f"booking-{booking_id}"]
    assert datetime.fromisoformat(event.data["expires_at"]) == uow.now + timedelta(hours=1)
    assert (event.correlationid, event.traceparent) == (TRACE.correlation_id, TRACE.traceparent)


async def test_a_taken_slot_is_a_conflict_and_an_unknown_one_is_not_found() -> None:
    uow = FakeUnitOfWork()
    slot_id = await slot(uow)
    await commands.book(uow, slot_id, "u-1", None, 3600, TRACE)
    with pytest.raises(Conflict) as taken:
        await commands.book(uow, slot_id, "u-2", None, 3600, TRACE)
    assert taken.value.extensions["slot_status"] == "held"
    with pytest.raises(NotFound):
        await commands.book(uow, uuid.uuid4(), "u-2", None, 3600, TRACE)


async def test_a_slot_in_the_past_cannot_be_booked() -> None:
    uow = FakeUnitOfWork()
    slot_id = await slot(uow)
    uow.now = uow.slots[slot_id].starts_at
    with pytest.raises(Conflict):
        await commands.book(uow, slot_id, "u-1", None, 3600, TRACE)


@pytest.mark.parametrize(
    ("target", "slot_after"),
    [
        (Status.CONFIRMED, SlotStatus.BOOKED),
        (Status.REJECTED, SlotStatus.OPEN),
        (Status.CANCELLED, SlotStatus.OPEN),
        (Status.EXPIRED, SlotStatus.OPEN),
    ],
)
async def test_every_answer_moves_the_slot_and_tells_the_provider_and_the_user(
    target: Status, slot_after: SlotStatus
) -> None:
    uow = FakeUnitOfWork()
    booking_id = await pending(uow)
    await move(uow, booking_id, target)
    booking = uow.bookings[booking_id]
    assert (booking.status, booking.version) == (target, 2)
    assert uow.slots[booking.slot_id].status is slot_after
    event_type = uow.streams[f"booking-{booking_id}"][-1].type
    # The provider's inbox hears of every answer, so it drops a request at once.
    assert uow.destinations(event_type) == {PROVIDER_EVENTS, USER_NOTICES}


async def test_a_forbidden_transition_is_a_conflict_and_records_nothing() -> None:
    uow = FakeUnitOfWork()
    booking_id = await pending(uow)
    await move(uow, booking_id, Status.REJECTED)
    published = len(uow.published)
    with pytest.raises(InvalidTransition):
        await move(uow, booking_id, Status.CONFIRMED)
    assert len(uow.streams[f"booking-{booking_id}"]) == 2
    assert len(uow.published) == published


async def test_a_booking_changed_by_another_meanwhile_is_a_conflict() -> None:
    uow = FakeUnitOfWork()
    booking_id = await pending(uow)
    stale = await commands.load(uow, booking_id)
    await move(uow, booking_id, Status.CONFIRMED)
    with pytest.raises(Conflict):
        await commands.change_status(uow, stale, Status.REJECTED, "actor", TRACE)


async def test_an_unknown_booking_is_not_found() -> None:
    with pytest.raises(NotFound):
        await commands.load(FakeUnitOfWork(), uuid.uuid4())


async def test_the_expiry_sweep_expires_each_due_booking_once() -> None:
    uow = FakeUnitOfWork()
    due = [await pending(uow, f"u-{i}") for i in range(3)]
    uow.expired = due[:2]
    assert await commands.expire_due(uow, "system:expiry", TRACE, batch=10) == 2
    assert [uow.bookings[b].status for b in due] == [
        Status.EXPIRED,
        Status.EXPIRED,
        Status.PENDING,
    ]


async def test_an_overlapping_slot_is_a_conflict_naming_the_slot_in_the_way() -> None:
    uow = FakeUnitOfWork()
    first = await slot(uow)
    starts = uow.slots[first].starts_at
    with pytest.raises(Conflict) as overlap:
        await commands.create_slot(
            uow, "p-1", starts + timedelta(minutes=30), starts + timedelta(hours=2), "p-1", TRACE
        )
    assert overlap.value.extensions["slot_in_the_way"] == str(first)
    # Touching is fine, and another provider's calendar is its own.
    end = uow.slots[first].ends_at
    await commands.create_slot(uow, "p-1", end, end + timedelta(hours=1), "p-1", TRACE)
    await commands.create_slot(uow, "p-2", starts, end, "p-2", TRACE)


async def test_an_open_slot_is_withdrawn_and_a_held_one_is_a_conflict() -> None:
    uow = FakeUnitOfWork()
    open_slot = await slot(uow)
    await commands.withdraw_slot(uow, "p-1", open_slot, "p-1", TRACE)
    assert uow.slots[open_slot].status is SlotStatus.WITHDRAWN
    assert [e.type for e in uow.streams[f"slot-{open_slot}"]][-1] == "SLOT_WITHDRAWN"
    with pytest.raises(NotFound):  # withdrawn is gone: not bookable, not withdrawn twice
        await commands.book(uow, open_slot, "u-1", None, 3600, TRACE)
    booking_id = await pending(uow)
    held = uow.bookings[booking_id].slot_id
    with pytest.raises(Conflict) as refused:
        await commands.withdraw_slot(uow, "p-1", held, "p-1", TRACE)
    assert refused.value.extensions["slot_status"] == "held"
    with pytest.raises(NotFound):
        await commands.withdraw_slot(uow, "p-2", held, "p-2", TRACE)


async def test_a_provider_cancel_tells_the_user_who_cancelled() -> None:
    uow = FakeUnitOfWork()
    booking_id = await pending(uow)
    await move(uow, booking_id, Status.CONFIRMED)
    booking = await commands.load(uow, booking_id)
    await commands.change_status(
        uow, booking, Status.CANCELLED, "p-1", TRACE, reason="ill", by="provider"
    )
    event = uow.streams[f"booking-{booking_id}"][-1]
    assert (event.data["cancelled_by"], event.data["reason"]) == ("provider", "ill")
    assert uow.destinations("BOOKING_CANCELLED") == {PROVIDER_EVENTS, USER_NOTICES}


async def test_a_confirmed_booking_rescheduled_is_pending_in_the_new_slot() -> None:
    uow = FakeUnitOfWork()
    booking_id = await pending(uow)
    old = uow.bookings[booking_id].slot_id
    await move(uow, booking_id, Status.CONFIRMED)
    target = await slot(uow)
    booking = await commands.load(uow, booking_id)
    await commands.reschedule(uow, booking, target, "u-1", 3600, TRACE)
    moved = uow.bookings[booking_id]
    assert (moved.status, moved.slot_id) == (Status.PENDING, target)
    assert (uow.slots[old].status, uow.slots[target].status) == (SlotStatus.OPEN, SlotStatus.HELD)
    event = uow.streams[f"booking-{booking_id}"][-1]
    assert (event.type, event.data["from_slot_id"]) == ("BOOKING_RESCHEDULED", str(old))
    assert uow.destinations("BOOKING_RESCHEDULED") == {PROVIDER_EVENTS, USER_NOTICES}


@pytest.mark.parametrize("why", ["taken", "past", "own", "other provider", "ended"])
async def test_a_reschedule_that_cannot_be_done_changes_nothing(why: str) -> None:
    uow = FakeUnitOfWork()
    booking_id = await pending(uow)
    own = uow.bookings[booking_id].slot_id
    target = await slot(uow, "p-2" if why == "other provider" else "p-1")
    if why == "taken":
        await commands.book(uow, target, "u-2", None, 3600, TRACE)
    if why == "past":
        uow.now = uow.slots[target].starts_at
    if why == "own":
        target = own
    if why == "ended":
        await move(uow, booking_id, Status.REJECTED)
    before = (dict(uow.bookings), {k: v.status for k, v in uow.slots.items()}, len(uow.published))
    with pytest.raises(Problem) as refused:
        booking = await commands.load(uow, booking_id)
        await commands.reschedule(uow, booking, target, "u-1", 3600, TRACE)
    assert refused.value.status == (422 if why == "other provider" else 409)
    after = (dict(uow.bookings), {k: v.status for k, v in uow.slots.items()}, len(uow.published))
    assert after == before
