"""Contention on one booking: random interleavings of accept, reject, cancel (by the user and
by the provider), reschedule, expiry and rival bookings, fired at once, round after round.
After every round the invariants hold: one active booking per slot, every booking's history
legal under the state machine and ending in its row, every slot's status agreeing with its
booking. The plan of each round comes from a seeded RNG; FAULTS_SEED=<seed> replays it."""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest

from services.booking_api import expiry
from shared.config import Settings
from shared.storage.pool import Database
from tests.faults.booking_invariants import check_bookings, check_slots, replayed
from tests.faults.report import record
from tests.integration.booking.api import BookingApi, running, unique

ROUNDS = 60
PARALLEL = 6  # rounds running at the same time
ACTIONS = 8  # per round, fired together
SLOTS = 3  # per round, all of one provider
TTL = 0.3  # seconds an unanswered booking stays pending
MAX_DELAY = 0.5  # each action starts after a random delay up to this
VERBS = ["accept", "reject", "cancel", "provider-cancel", "reschedule", "expire", "book"]
ANSWERS = {200, 201, 409}  # what any of them may answer: done, or refused by the machine


@pytest.fixture
async def booking(settings: Settings) -> AsyncIterator[BookingApi]:
    # The app's own sweep stays out of the way: expiry happens when the plan says so.
    mine = settings.model_copy(
        update={"booking_pending_ttl": TTL, "booking_expiry_interval": 3600.0}
    )
    async with running(mine) as api:
        yield api


@dataclass
class Round:
    api: BookingApi
    db: Database
    rng: random.Random
    provider: str = field(default_factory=lambda: unique("provider"))
    user: str = field(default_factory=lambda: unique("user"))
    slots: list[str] = field(default_factory=list)
    bookings: list[str] = field(default_factory=list)
    answers: Counter[tuple[str, int]] = field(default_factory=Counter)
    sweeps: int = 0
    expired: int = 0  # bookings this round's sweeps expired (any round's)

    async def act(self, verb: str, booking: str, delay: float, slot: str) -> None:
        await asyncio.sleep(delay)
        if verb == "expire":  # a sweep of the expiry loop, not a request
            self.sweeps += 1
            self.expired += await expiry.expire_due(self.db)
            return
        if verb == "book":
            response = await self.api.book(unique("rival"), slot)
        elif verb in ("accept", "reject"):
            response = await self.api.answer(self.provider, booking, verb, {"reason": "busy"})
        elif verb == "provider-cancel":
            response = await self.api.answer(self.provider, booking, "cancel", {"reason": "ill"})
        elif verb == "cancel":
            response = await self.api.cancel(self.user, booking, "plans changed")
        else:
            response = await self.api.client.post(
                f"/bookings/{booking}/reschedule",
                json={"slot_id": slot},
                headers=self.api.auth(self.user, "user"),
            )
        body = await response.json(content_type=None)
        self.answers[(verb, response.status)] += 1
        assert response.status in ANSWERS, (verb, response.status, body)
        if verb == "book" and response.status == 201:
            self.bookings.append(str(body["id"]))

    async def run(self) -> None:
        self.slots = [str((await self.api.create_slot(self.provider))["id"]) for _ in range(SLOTS)]
        self.bookings.append(str((await self.api.booked(self.user, self.slots[0]))["id"]))
        plan = [
            (self.rng.choice(VERBS), self.rng.uniform(0, MAX_DELAY), self.rng.choice(self.slots))
            for _ in range(ACTIONS)
        ]
        main = self.bookings[0]
        await asyncio.gather(*(self.act(verb, main, delay, slot) for verb, delay, slot in plan))


@pytest.mark.timeout(240)
async def test_random_interleavings_on_one_booking_keep_every_invariant(
    booking: BookingApi, db: Database
) -> None:
    seed = int(os.environ.get("FAULTS_SEED") or secrets.randbits(32))
    print(f"booking interleavings: FAULTS_SEED={seed}")
    rng = random.Random(seed)
    rounds = [Round(booking, db, random.Random(rng.getrandbits(64))) for _ in range(ROUNDS)]
    gate = asyncio.Semaphore(PARALLEL)

    async def run(one: Round) -> None:
        async with gate:
            await one.run()

    await asyncio.gather(*(run(one) for one in rounds))
    # A pending booking left over expires at the latest TTL after its last change.
    await asyncio.sleep(TTL)
    await expiry.expire_due(db)
    booking_ids = [uuid.UUID(b) for one in rounds for b in one.bookings]
    slot_ids = [uuid.UUID(s) for one in rounds for s in one.slots]
    async with db.acquire() as conn:
        problems = await check_bookings(conn, booking_ids) + await check_slots(conn, slot_ids)
        events = sum([len((await replayed(conn, b))[1]) for b in booking_ids])
        finals = Counter(
            row["status"]
            for row in await conn.fetch(
                "SELECT status FROM booking.bookings WHERE id = ANY($1::uuid[])", booking_ids
            )
        )
    problems += await _history_routes_agree(booking, rounds, db)
    assert not problems, f"FAULTS_SEED={seed}: " + "\n".join(problems)
    answers = sum((one.answers for one in rounds), Counter[tuple[str, int]]())
    done = Counter(verb for (verb, status), n in answers.items() for _ in range(n) if status < 300)
    done["expire"] = sum(one.expired for one in rounds)
    sweeps = sum(one.sweeps for one in rounds)
    record(
        "contention-interleavings",
        done=(
            f"{ROUNDS} rounds ({PARALLEL} at a time) of {ACTIONS} random actions at once on one "
            f"booking (accept, reject, user and provider cancel, reschedule among {SLOTS} slots, "
            f"expiry sweeps ({sweeps}) with a {TTL} s TTL, rival bookings); seed {seed}"
        ),
        checked=(
            "every answer 200/201/409; one active booking per slot; every booking's event "
            "history legal under the state machine and ending in its row (status, slot, "
            "version); GET history = the replay; slot status = its booking's; final states "
            + ", ".join(f"{status} {n}" for status, n in sorted(finals.items()))
            + "; actions that took effect "
            + ", ".join(f"{verb} {n}" for verb, n in sorted(done.items()))
        ),
        requests=sum(answers.values()) + ROUNDS * (SLOTS + 1),
        faults=0,
        messages=events,
        lost=0,
        doubled=0,
        seed=seed,
    )


async def _history_routes_agree(api: BookingApi, rounds: list[Round], db: Database) -> list[str]:
    """GET /bookings/{id}/history lists the statuses the replay went through."""
    problems = []
    async with db.acquire() as conn:
        for one in rounds:
            for booking_id in one.bookings:
                _, statuses = await replayed(conn, uuid.UUID(booking_id))
                owner = one.user if booking_id == one.bookings[0] else None
                sub, role = (owner, "user") if owner else (one.provider, "provider")
                response = await api.get(f"/bookings/{booking_id}/history", sub, role)
                shown = [entry["status"] for entry in (await response.json())["entries"]]
                if shown != statuses:
                    problems.append(f"booking {booking_id}: history {shown}, replay {statuses}")
    return problems
