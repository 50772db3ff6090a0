"""HTTP models of the notification read side, and the mapping of its rows onto them."""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class NotificationsQuery(BaseModel):
    limit: int = Field(default=50, ge=1, le=200)
    cursor: str | None = Field(default=None, max_length=200)


class Notification(BaseModel):
    id: uuid.UUID
    kind: str
    subject: str
    body: str
    data: dict[str, Any]
    created_at: datetime
    channels: dict[str, str] = Field(description="delivery state per channel besides in-app")


class Notifications(BaseModel):
    user_id: str
    items: list[Notification]
    next_cursor: str | None


def notification_out(row: Mapping[str, Any]) -> Notification:
    return Notification.model_validate(
        {**dict(row), "data": json.loads(row["data"]), "channels": json.loads(row["channels"])}
    )
