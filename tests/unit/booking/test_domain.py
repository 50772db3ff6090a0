"""The booking state machine, the slot it implies, and who hears of each change."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from services.booking_api.domain import (
    PAYLOAD_OF,
    STATUS_OF,
    Booking,
    InvalidTransition,
    SlotStatus,
    Status,
    pending_deadline,
    slot_status,
)
from services.booking_api.models import NewSlot
from shared.errors import Problem
from shared.events.booking import BookingCancelled, BookingRejected
from shared.events.envelope import REGISTRY
from shared.http.pagination import decode_cursor, encode_cursor


def booking(status: Status) -> Booking:
    start = datetime(2030, 5, 1, 9, tzinfo=UTC)
    return Booking(
        id=uuid.uuid4(),
        slot_id=uuid.uuid4(),
        user_id="user-1",
        provider_id="provider-1",
        status=status,
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        version=3,
    )


ALLOWED = {
    (Status.PENDING, Status.CONFIRMED),
    (Status.PENDING, Status.REJECTED),
    (Status.PENDING, Status.CANCELLED),
    (Status.PENDING, Status.EXPIRED),
    (Status.CONFIRMED, Status.CANCELLED),
}


@pytest.mark.parametrize("current", list(Status))
@pytest.mark.parametrize("target", list(Status))
def test_only_the_documented_transitions_are_allowed(current: Status, target: Status) -> None:
    if (current, target) in ALLOWED:
        payload = booking(current).transition(target)
        assert STATUS_OF[REGISTRY.type_of(type(payload))] is target
    else:
        with pytest.raises(InvalidTransition) as error:
            booking(current).transition(target)
        assert error.value.status == 409
        assert error.value.extensions["status_now"] == current.value


def test_a_transition_carries_the_booking_and_the_reason_where_the_event_has_one() -> None:
    pending = booking(Status.PENDING)
    rejected = pending.transition(Status.REJECTED, "fully booked")
    assert isinstance(rejected, BookingRejected)
    assert (rejected.booking_id, rejected.slot_id) == (pending.id, pending.slot_id)
    assert rejected.reason == "fully booked"
    cancelled = booking(Status.CONFIRMED).transition(Status.CANCELLED, None)
    assert isinstance(cancelled, BookingCancelled)
    assert cancelled.reason is None


def test_a_booking_is_built_from_its_row() -> None:
    original = booking(Status.CONFIRMED)
    row = {**original.__dict__, "status": "confirmed", "notes": "ignored"}
    assert Booking.from_row(row) == original


def test_slot_is_held_while_pending_booked_when_confirmed_open_otherwise() -> None:
    assert slot_status(Status.PENDING) is SlotStatus.HELD
    assert slot_status(Status.CONFIRMED) is SlotStatus.BOOKED
    for ended in (Status.REJECTED, Status.CANCELLED, Status.EXPIRED):
        assert slot_status(ended) is SlotStatus.OPEN


def test_every_status_has_one_event_and_back() -> None:
    assert {STATUS_OF[REGISTRY.type_of(model)] for model in PAYLOAD_OF.values()} == set(Status)
    assert REGISTRY.type_of(PAYLOAD_OF[Status.EXPIRED]) == "BOOKING_EXPIRED"


def test_cursor_round_trips_and_a_forged_one_is_a_400() -> None:
    at, ident = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), uuid.uuid4()
    assert decode_cursor(encode_cursor(at, ident)) == (at, ident)
    assert decode_cursor(None) is None
    for forged in ("!!", "bm9wZQ", encode_cursor(at, ident)[:-4]):
        with pytest.raises(Problem) as error:
            decode_cursor(forged)
        assert error.value.status == 400


def test_slot_must_end_after_it_starts_and_start_in_the_future() -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    assert NewSlot(starts_at=soon, ends_at=soon + timedelta(hours=1)).ends_at > soon
    with pytest.raises(ValidationError):
        NewSlot(starts_at=soon, ends_at=soon)
    with pytest.raises(ValidationError):
        NewSlot(starts_at=soon - timedelta(hours=2), ends_at=soon)


def test_unanswered_booking_expires_after_the_ttl_but_never_after_the_slot_starts() -> None:
    now = datetime(2030, 1, 1, 12, tzinfo=UTC)
    later = now + timedelta(days=3)
    assert pending_deadline(now, 3600, later) == now + timedelta(hours=1)
    assert pending_deadline(now, 86_400, now + timedelta(hours=2)) == now + timedelta(hours=2)


def test_a_notice_shows_the_slots_local_time_in_its_zone_and_utc_without_one() -> None:
    start = datetime(2030, 7, 1, 9, tzinfo=UTC)
    fields = {
        "booking_id": uuid.uuid4(),
        "slot_id": uuid.uuid4(),
        "user_id": "u",
        "provider_id": "p",
        "starts_at": start,
        "ends_at": start + timedelta(hours=1),
    }
    local = BookingCancelled(**fields, time_zone="Europe/Paris").notice_values()
    assert local["starts_at"] == "2030-07-01T11:00:00+02:00 (Europe/Paris)"
    assert BookingCancelled(**fields).notice_values()["starts_at"] == "2030-07-01T09:00:00Z"


def test_a_slot_in_an_unknown_time_zone_is_refused() -> None:
    start = datetime.now(UTC) + timedelta(days=1)
    with pytest.raises(ValidationError):
        NewSlot(starts_at=start, ends_at=start + timedelta(hours=1), time_zone="Mars/Olympus")
    assert NewSlot(starts_at=start, ends_at=start + timedelta(hours=1), time_zone="Asia/Tokyo")
