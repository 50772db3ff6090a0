"""Rebuild every read model of both contexts from their events (what `make replay` runs).

python -m tools.replay [SCHEMA ...]     (no schema: every one)

booking: slots, bookings and the provider analytics. checkout: catalogue, customers, carts,
wallets, transactions (checkout_api's projectors) and the rows the reward worker keeps there
(reward status, tree points, levels). Each schema is rebuilt in one transaction, so readers
see the old rows until the new ones commit, and the rebuilt rows equal the live ones.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence

from services.booking_api.projections import PROJECTORS as BOOKING
from services.checkout_api.projections import PROJECTORS as CHECKOUT
from services.reward_worker.projections import PROJECTORS as REWARDS
from shared.config import Settings
from shared.logging import configure_logging, get_logger
from shared.storage.pool import Database
from shared.storage.projections import Projector, replay

log = get_logger("tools.replay")

# Schema -> its projectors in dependency order (a projector may update rows of an earlier one).
CONTEXTS: dict[str, tuple[Projector, ...]] = {
    "booking": BOOKING,
    "checkout": (*CHECKOUT, *REWARDS),
}


async def rebuild_all(settings: Settings, schemas: Sequence[str] = ()) -> dict[str, int]:
    """Replay the events of these schemas (all when none is named) into fresh read models;
    return the events applied per schema."""
    unknown = sorted(set(schemas) - set(CONTEXTS))
    if unknown:
        raise SystemExit(f"unknown schema {', '.join(unknown)}: choose from {', '.join(CONTEXTS)}")
    chosen = {name: CONTEXTS[name] for name in schemas or CONTEXTS}
    db = Database(settings.database_url, max_size=1)
    await db.start()
    try:
        await db.wait_ready(timeout=30)
        return {schema: await replay(db, schema, chosen[schema]) for schema in chosen}
    finally:
        await db.close()


def main(argv: Sequence[str] | None = None) -> None:
    settings = Settings()
    configure_logging("tools.replay", settings.log_level, json=settings.log_json)
    schemas = sys.argv[1:] if argv is None else argv
    applied = asyncio.run(rebuild_all(settings, schemas))
    for schema, events in applied.items():
        log.info("read models rebuilt", schema=schema, events=events)
        print(f"{schema} read models rebuilt from {events} events")


if __name__ == "__main__":
    main()
