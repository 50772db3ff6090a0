"""Request and response models of the HTTP API (they also generate /openapi.json)."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import asyncpg
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from shared.errors import Problem

M = TypeVar("M", bound=BaseModel)

MAX_TEXT = 500
StatusName = Literal["pending", "confirmed", "rejected", "cancelled", "expired"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewSlot(Strict):
    starts_at: AwareDatetime
    ends_at: AwareDatetime

    @model_validator(mode="after")
    def _ends_after_start(self) -> NewSlot:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.starts_at <= datetime.now(UTC):
            raise ValueError("starts_at must be in the future")
        return self


class NewBooking(Strict):
    slot_id: uuid.UUID
    notes: str | None = Field(default=None, max_length=MAX_TEXT)


class Reason(Strict):
    reason: str | None = Field(default=None, max_length=MAX_TEXT)


class Page(Strict):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


class SlotQuery(Page):
    provider_id: str | None = Field(default=None, min_length=1, max_length=200)
    starts_from: AwareDatetime | None = Field(default=None, alias="from")
    starts_before: AwareDatetime | None = Field(default=None, alias="to")


class BookingQuery(Page):
    status: StatusName | None = None


class Slot(BaseModel):
    id: uuid.UUID
    provider_id: str
    starts_at: datetime
    ends_at: datetime
    status: Literal["open", "held", "booked"]


class Booking(BaseModel):
    id: uuid.UUID
    slot_id: uuid.UUID
    user_id: str
    provider_id: str
    status: StatusName
    notes: str | None
    reason: str | None
    starts_at: datetime
    ends_at: datetime
    expires_at: datetime
    created_at: datetime
    updated_at: datetime


class SlotPage(BaseModel):
    items: list[Slot]
    next_cursor: str | None


class BookingPage(BaseModel):
    items: list[Booking]
    next_cursor: str | None


class HistoryEntry(BaseModel):
    event_id: uuid.UUID
    event_type: str
    status: StatusName
    at: datetime
    actor: str | None
    reason: str | None


class History(BaseModel):
    booking_id: uuid.UUID
    entries: list[HistoryEntry]


def slot_out(row: asyncpg.Record) -> Slot:
    return Slot.model_validate(dict(row))


def booking_out(row: asyncpg.Record) -> Booking:
    return Booking.model_validate({k: v for k, v in row.items() if k != "version"})


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(mode="json")


def encode_cursor(at: datetime, ident: uuid.UUID) -> str:
    raw = json.dumps([at.isoformat(), str(ident)]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def page_items(
    rows: list[Any],
    limit: int,
    out: Callable[[Any], M],
    position: Callable[[M], tuple[datetime, uuid.UUID]],
) -> tuple[list[M], str | None]:
    """The page of `rows` (fetched with `limit + 1` to learn whether more follow) and the
    cursor of the next page, made from the last item's position."""
    items = [out(row) for row in rows[:limit]]
    if len(rows) <= limit:
        return items, None
    return items, encode_cursor(*position(items[-1]))


def decode_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    """The position a cursor points after; 400 when it was not made by `encode_cursor`."""
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at, ident = json.loads(raw)
        position = datetime.fromisoformat(at), uuid.UUID(ident)
        if position[0].tzinfo is None:
            raise ValueError("naive time")
        return position
    except (ValueError, TypeError, binascii.Error):
        raise Problem(400, "the cursor is not valid") from None
