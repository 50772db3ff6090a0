"""Keyset cursors of the HTTP lists: opaque to clients, a (time, id) position inside."""

from __future__ import annotations

import base64
import binascii
import json
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel

from shared.errors import Problem

M = TypeVar("M", bound=BaseModel)


def encode_cursor(at: datetime, ident: uuid.UUID) -> str:
    """The cursor of the position (at, ident)."""
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
