"""Demo data: a provider with a working week of hourly slots in its own time zone, created
through the events."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from services.booking_api import commands
from services.booking_api.typedefs import SCHEMA
from services.booking_api.uow import PostgresUnitOfWork
from shared.config import Settings
from shared.events.envelope import Trace

DEMO_PROVIDER = "demo-provider"
DEMO_TIME_ZONE = "Europe/Berlin"  # its slots are 9:00 to 17:00 there, Monday to Friday
DAYS = 7
HOURS = range(9, 17)
WEEKEND = (5, 6)


async def seed(conn: asyncpg.Connection, settings: Settings) -> int:
    """Create the demo provider's slots unless it has future slots already; return how many."""
    has_slots = await conn.fetchval(
        f"""SELECT EXISTS (SELECT 1 FROM {SCHEMA}.slots
                           WHERE provider_id = $1 AND starts_at > now())""",
        DEMO_PROVIDER,
    )
    if has_slots:
        return 0
    zone = ZoneInfo(DEMO_TIME_ZONE)
    today = datetime.now(zone).date()
    uow, trace = PostgresUnitOfWork(conn), Trace()
    created = 0
    for day in range(1, DAYS + 1):
        date = today + timedelta(days=day)
        if date.weekday() in WEEKEND:
            continue
        for hour in HOURS:
            starts_at = datetime.combine(date, time(hour), tzinfo=zone).astimezone(UTC)
            await commands.create_slot(
                uow,
                DEMO_PROVIDER,
                starts_at,
                starts_at + timedelta(hours=1),
                "seed",
                trace,
                time_zone=DEMO_TIME_ZONE,
            )
            created += 1
    return created
