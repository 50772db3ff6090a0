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


class StatsQuery(Strict):
    starts_from: AwareDatetime | None = Field(
        default=None,
        alias="from",
        description="requests made from then on (ISO 8601 with an offset); "
        "default: 30 days before `to`",
        examples=["2030-01-01T00:00:00+01:00"],
    )
    ends_before: AwareDatetime | None = Field(
        default=None,
        alias="to",
        description="requests made before then (ISO 8601 with an offset); default: now",
        examples=["2030-02-01T00:00:00+01:00"],
    )


class ProviderStats(BaseModel):
    """A provider's requests made in [from, to), and how the provider answered them. Rates
    are shares of `requests` (null without any); a booking accepted and later cancelled
    counts in both `accepted` and `cancelled`."""

    model_config = ConfigDict(
        serialize_by_alias=True,
        validate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "provider_id": "demo-provider",
                    "from": "2030-01-01T00:00:00Z",
                    "to": "2030-01-31T00:00:00Z",
                    "requests": 40,
                    "accepted": 30,
                    "rejected": 4,
                    "cancelled": 5,
                    "cancelled_by_provider": 1,
                    "expired": 2,
                    "pending": 4,
                    "acceptance_rate": 0.75,
                    "rejection_rate": 0.1,
                    "cancellation_rate": 0.125,
                    "expiry_rate": 0.05,
                    "answers": 36,
                    "median_answer_seconds": 1260.0,
                }
            ]
        },
    )

    provider_id: str
    starts_from: datetime = Field(alias="from")
    ends_before: datetime = Field(alias="to")
    requests: int = Field(description="booking requests made in the window")
    accepted: int = Field(description="of them, accepted (at some point)")
    rejected: int
    cancelled: int = Field(description="cancelled by the user or the provider")
    cancelled_by_provider: int
    expired: int = Field(description="left unanswered until they expired")
    pending: int = Field(description="still waiting for an answer")
    acceptance_rate: float | None
    rejection_rate: float | None
    cancellation_rate: float | None
    expiry_rate: float | None
    answers: int = Field(description="accepts and rejects of requests waiting from the window on")
    median_answer_seconds: float | None = Field(
        description="median seconds from a request (or its move) to its answer; null without any"
    )


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
