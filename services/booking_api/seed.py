"""Demo data: a provider with hourly slots over the next days, created through the events."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import asyncpg

from services.booking_api import commands
from services.booking_api.typedefs import SCHEMA
from services.booking_api.uow import PostgresUnitOfWork
from shared.config import Settings
from shared.events.envelope import Trace

DEMO_PROVIDER = "demo-provider"
DAYS = 7
HOURS = range(9, 17)


async def seed(conn: asyncpg.Connection, settings: Settings) -> int:
    """Create the demo provider's slots unless it has future slots already; return how many."""
    has_slots = await conn.fetchval(
        f"""SELECT EXISTS (SELECT 1 FROM {SCHEMA}.slots
                           WHERE provider_id = $1 AND starts_at > now())""",
        DEMO_PROVIDER,
    )
    if has_slots:
        return 0
    today = datetime.now(UTC).date()
    uow, trace = PostgresUnitOfWork(conn), Trace()
    created = 0
    for day in range(1, DAYS + 1):
        date = today + timedelta(days=day)
        for hour in HOURS:
            starts_at = datetime.combine(date, time(hour), tzinfo=UTC)
            await commands.create_slot(
                uow, DEMO_PROVIDER, starts_at, starts_at + timedelta(hours=1), "seed", trace
            )
            created += 1
    return created
