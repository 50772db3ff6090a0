"""HTTP models of the provider inbox, and the mapping of its rows onto them."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class InboxQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


class InboxItem(BaseModel):
    booking_id: uuid.UUID
    slot_id: uuid.UUID
    user_id: str
    starts_at: datetime
    ends_at: datetime
    notes: str | None
    expires_at: datetime | None
    requested_at: datetime


class Inbox(BaseModel):
    provider_id: str
    items: list[InboxItem]
    next_cursor: str | None


def inbox_item_out(row: Mapping[str, Any]) -> InboxItem:
    return InboxItem.model_validate(dict(row))
