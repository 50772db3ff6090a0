"""Rebuild the booking read models (slots, bookings) from the event store.

python -m services.booking_api.replay
"""

from __future__ import annotations

import asyncio

from services.booking_api.projections import PROJECTORS
from services.booking_api.typedefs import SCHEMA
from shared.config import Settings
from shared.logging import configure_logging, get_logger
from shared.storage.pool import Database
from shared.storage.projections import replay

__all__ = ["PROJECTORS", "SCHEMA", "rebuild"]

log = get_logger(__name__)


async def rebuild(settings: Settings) -> int:
    """Replay every booking event into fresh read models; return the events applied."""
    db = Database(settings.database_url, max_size=1)
    await db.start()
    try:
        await db.wait_ready(timeout=30)
        return await replay(db, SCHEMA, PROJECTORS)
    finally:
        await db.close()


def main() -> None:
    settings = Settings()
    configure_logging("booking_api.replay", settings.log_level, json=settings.log_json)
    applied = asyncio.run(rebuild(settings))
    log.info("booking read models rebuilt", events=applied)
    print(f"booking read models rebuilt from {applied} events")


if __name__ == "__main__":
    main()
