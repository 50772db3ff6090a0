"""Request and response models of the HTTP API (they also generate /openapi.json)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import asyncpg
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

MAX_TEXT = 500
StatusName = Literal["pending", "confirmed", "rejected", "cancelled", "expired"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NewSlot(Strict):
    starts_at: AwareDatetime = Field(description="with an offset: a time without is refused")
    ends_at: AwareDatetime
    time_zone: str | None = Field(
        default=None, max_length=64, description="the provider's IANA time zone, for notices"
    )

    @model_validator(mode="after")
    def _ends_after_start(self) -> NewSlot:
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        if self.starts_at <= datetime.now(UTC):
            raise ValueError("starts_at must be in the future")
        if self.time_zone is not None:
            try:
                ZoneInfo(self.time_zone)
            except (ZoneInfoNotFoundError, ValueError):
                raise ValueError("time_zone must be an IANA time zone") from None
        return self


class NewBooking(Strict):
    slot_id: uuid.UUID
    notes: str | None = Field(default=None, max_length=MAX_TEXT)


class Move(Strict):
    slot_id: uuid.UUID = Field(description="another open slot of the same provider")


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
    time_zone: str | None
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
    time_zone: str | None
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
