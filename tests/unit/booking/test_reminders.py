"""Reminders of a confirmed booking: when they fall due, and what confirming schedules."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from services.booking_api import commands
from services.booking_api.domain import Status, reminder_times
from shared.events.envelope import Trace
from shared.messaging.destinations import USER_NOTICES
from shared.messaging.outbox import Guard
from tests.unit.booking.fakes import FakeUnitOfWork

START = datetime(2030, 3, 1, 9, tzinfo=UTC)
TRACE = Trace("corr-1", "00-trace-span-01")
DAY, HOUR = 86_400.0, 3_600.0


def test_each_lead_ahead_gives_a_reminder_soonest_first() -> None:
    now = START - timedelta(days=3)
    assert reminder_times(START, [HOUR, DAY], now) == [
        (DAY, START - timedelta(days=1)),
        (HOUR, START - timedelta(hours=1)),
    ]


def test_a_lead_already_past_is_skipped_and_one_given_twice_reminds_once() -> None:
    now = START - timedelta(hours=5)
    assert reminder_times(START, [DAY, HOUR, HOUR], now) == [(HOUR, START - timedelta(hours=1))]
    # A reminder due exactly now is past as well: it could not be sent ahead of its time.
    assert reminder_times(START, [HOUR], START - timedelta(hours=1)) == []
    assert reminder_times(START, [], now) == []


async def confirmed(uow: FakeUnitOfWork, starts_in: timedelta) -> uuid.UUID:
    starts = uow.now + starts_in
    slot = await commands.create_slot(uow, "p-1", starts, starts + timedelta(hours=1), "p-1", TRACE)
    booking_id = await commands.book(uow, slot, "u-1", None, 3600, TRACE)
    booking = await commands.load(uow, booking_id)
    await commands.change_status(
        uow, booking, Status.CONFIRMED, "p-1", TRACE, reminder_leads=[DAY, HOUR]
    )
    return booking_id


async def test_confirming_schedules_guarded_reminders_to_the_user() -> None:
    uow = FakeUnitOfWork()
    booking_id = await confirmed(uow, timedelta(days=2))
    (confirm,) = [e for e in uow.streams[f"booking-{booking_id}"] if e.type == "BOOKING_CONFIRMED"]
    starts = uow.bookings[booking_id].starts_at
    assert [(d, at, guard) for d, _, at, guard in uow.scheduled] == [
        (USER_NOTICES, starts - timedelta(days=1), Guard(f"booking-{booking_id}", 2)),
        (USER_NOTICES, starts - timedelta(hours=1), Guard(f"booking-{booking_id}", 2)),
    ]
    for _, event, at, _ in uow.scheduled:
        assert event.type == "BOOKING_REMINDER"
        assert event.data["user_id"] == "u-1"
        assert datetime.fromisoformat(event.data["remind_at"]) == at
        assert (event.causationid, event.correlationid) == (str(confirm.id), "corr-1")
    # A notice to come, not a change of the booking: its stream holds no reminder.
    assert "BOOKING_REMINDER" not in {e.type for e in uow.streams[f"booking-{booking_id}"]}


async def test_a_booking_confirmed_within_a_lead_gets_only_the_later_reminders() -> None:
    uow = FakeUnitOfWork()
    await confirmed(uow, timedelta(hours=3))
    assert [event.data["lead_seconds"] for _, event, _, _ in uow.scheduled] == [HOUR]


async def test_other_answers_schedule_nothing() -> None:
    uow = FakeUnitOfWork()
    starts = uow.now + timedelta(days=2)
    slot = await commands.create_slot(uow, "p-1", starts, starts + timedelta(hours=1), "p-1", TRACE)
    booking_id = await commands.book(uow, slot, "u-1", None, 3600, TRACE)
    booking = await commands.load(uow, booking_id)
    await commands.change_status(uow, booking, Status.REJECTED, "p-1", TRACE, reminder_leads=[DAY])
    assert uow.scheduled == []


async def test_a_move_confirmed_again_is_reminded_of_its_new_time_under_a_new_guard() -> None:
    uow = FakeUnitOfWork()
    booking_id = await confirmed(uow, timedelta(days=2))
    later = uow.now + timedelta(days=4)
    target = await commands.create_slot(uow, "p-1", later, later + timedelta(hours=1), "p-1", TRACE)
    booking = await commands.load(uow, booking_id)
    await commands.reschedule(uow, booking, target, "u-1", 3600, TRACE)
    moved = await commands.load(uow, booking_id)
    uow.scheduled.clear()
    await commands.change_status(uow, moved, Status.CONFIRMED, "p-1", TRACE, reminder_leads=[HOUR])
    ((_, _, at, guard),) = uow.scheduled
    assert (at, guard) == (later - timedelta(hours=1), Guard(f"booking-{booking_id}", 4))
