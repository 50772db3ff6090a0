"""pgbench running the statements an API request sends (tests/bench/pgbench/*.sql), on the
same database with as many clients: what PostgreSQL alone does with that work.

The scripts were written from PostgreSQL's statement log of one request of each kind
(log_statement = all on the bench database). Parameters are pgbench variables, sent as
prepared-statement parameters as asyncpg sends them (-M prepared); ids are uuids made from
pgbench integers in SQL. The pool's reset on release (one simple query of four commands,
which pgbench cannot prepare) is stood in for by one round trip of its first command.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg

from tests.bench.results import Result, figure

SCRIPTS = Path(__file__).parent / "pgbench"
SECONDS = 5.0
TRANSACTIONS = 0  # per client and run instead of SECONDS (the smoke test's tiny runs)
SLOTS_PER_CLIENT = 4_000  # open slots seeded per client and run for book.sql
STRIDE = 1_000_000_000  # slot numbers of client c start at c * STRIDE (as in book.sql)


def _uuid(n: int) -> str:
    return str(uuid.UUID(int=n))


def _payloads(product: str) -> dict[str, str]:
    """Bodies of the sizes the services write (event data, metadata, outbox message)."""
    now = datetime.now(UTC)
    ids = {k: str(uuid.uuid4()) for k in ("booking", "slot", "tx", "customer", "trace")}
    booking = {
        "ends_at": (now + timedelta(days=1, hours=1)).isoformat(),
        "slot_id": ids["slot"],
        "user_id": "pgbench-user",
        "starts_at": (now + timedelta(days=1)).isoformat(),
        "time_zone": None,
        "booking_id": ids["booking"],
        "provider_id": "pgbench-p",
    }
    meta = {
        "actor": "pgbench",
        "source": "booking_api",
        "subject": ids["booking"],
        "causationid": None,
        "traceparent": f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01",
        "correlationid": ids["trace"],
        "schemaversion": 1,
    }
    body = {
        "id": ids["booking"],
        "data": {**booking, "notes": None, "expires_at": booking["starts_at"]},
        "time": now.isoformat(),
        "type": "BOOKING_CREATED",
        "specversion": "1.0",
        "datacontenttype": "application/json",
        **{k: meta[k] for k in ("source", "subject", "causationid", "traceparent")},
        **{k: meta[k] for k in ("correlationid", "schemaversion")},
    }
    attributes = {"eventType": "BOOKING_CREATED", "traceparent": meta["traceparent"]}
    debited = {"items": [{"name": "Bench tea", "quantity": 2, "product_id": product}]}
    return {
        "created": json.dumps({**booking, "notes": None, "expires_at": booking["starts_at"]}),
        "confirmed": json.dumps(booking),
        "meta": json.dumps(meta),
        "body": json.dumps(body),
        "attributes": json.dumps({**attributes, "correlationId": ids["trace"]}),
        "debited": json.dumps({**debited, "amount": 500, "balance": 99500, "entry_id": 2}),
        "details": json.dumps({"transaction_id": ids["tx"]}),
        "completed": json.dumps({"tier": 0, "total": 500, "transaction_id": ids["tx"]}),
        "response": json.dumps({"transaction_id": ids["tx"], "total": 500, "rewards": "pending"}),
        "at": now.isoformat(),
        "starts": booking["starts_at"],
        "ends": booking["ends_at"],
        "product": product,
    }


async def seed(database_url: str, clients: int, runs: int) -> None:
    """book.sql's open slots (one provider each, so no calendar overlaps) and the
    customers of checkout.sql and wallet.sql with money in their wallets."""
    connection = await asyncpg.connect(database_url)
    try:
        await connection.execute(
            """
            INSERT INTO booking.slots (id, provider_id, starts_at, ends_at, status,
                                       created_at, updated_at)
            SELECT lpad(to_hex(n), 32, '0')::uuid, 'pgbench-' || n, now() + interval '1 day',
                   now() + interval '25 hours', 'open', now(), now()
            FROM generate_series(0::bigint, $1 - 1) AS c,
                 generate_series(c * $2::bigint + 1, c * $2::bigint + $3) AS n
            """,
            clients,
            STRIDE,
            SLOTS_PER_CLIENT * runs,
        )
        await connection.execute(
            """
            INSERT INTO checkout.customers (id, name)
            SELECT lpad(to_hex(c), 32, '0')::uuid, 'pgbench ' || c FROM generate_series(1, $1) c;
            """,
            clients,
        )
        await connection.execute(
            """
            INSERT INTO checkout.ledger_accounts (account_type, owner_id, balance)
            SELECT 'wallet', lpad(to_hex(c), 32, '0')::uuid::text, 1000000000000
            FROM generate_series(1, $1) c
            """,
            clients,
        )
    finally:
        await connection.close()


async def booked_per_client(database_url: str, clients: int, runs: int) -> list[int]:
    """For each run of book.sql, the fewest bookings one of its clients made: what each
    client of accept.sql's run of that number can accept (-t), so that none runs past."""
    connection = await asyncpg.connect(database_url)
    try:
        rows = await connection.fetch(
            """
            SELECT (n % $1 - 1) / $2 AS run, min(made) AS fewest FROM (
                SELECT n, count(*) OVER (PARTITION BY n / $1, (n % $1 - 1) / $2) AS made
                FROM (SELECT ('x' || right(replace(id::text, '-', ''), 16))::bit(64)::bigint
                      FROM booking.slots WHERE provider_id LIKE 'pgbench-%'
                      AND status = 'held') AS s(n)) AS counted
            GROUP BY 1 ORDER BY 1
            """,
            STRIDE,
            SLOTS_PER_CLIENT,
        )
    finally:
        await connection.close()
    fewest = {int(row["run"]): int(row["fewest"]) for row in rows}
    return [fewest.get(r, 0) for r in range(runs)]


def command(
    script: str, clients: int, seconds: float, start: int, transactions: int = 0
) -> list[str]:
    length = f"-t{transactions}" if transactions else f"-T{seconds:g}"
    return [
        "pgbench", "-n", "-M", "prepared", f"-c{clients}", "-j2", length,
        "-D", "n=0", "-D", f"start={start}", "-f", f"tests/bench/pgbench/{script}",
    ]  # fmt: skip


def _tps(output: str) -> float:
    found = re.search(r"tps = ([0-9.]+) \(without initial connection time\)", output)
    if found is None:
        raise RuntimeError(f"pgbench printed no tps: {output[-800:]}")
    return float(found.group(1))


def run_once(
    script: str,
    database_url: str,
    clients: int,
    start: int,
    values: dict[str, str],
    transactions: int = 0,
) -> float:
    argv = command(script, clients, SECONDS, start, transactions)
    argv[-1] = str(SCRIPTS / script)
    for name, value in values.items():
        argv += ["-D", f"{name}={value}"]
    done = subprocess.run(
        [*argv, database_url], capture_output=True, text=True, timeout=SECONDS + 120
    )
    output = done.stdout + done.stderr
    failed = re.search(r"number of failed transactions: (\d+)", output)
    if done.returncode != 0 or (failed and int(failed.group(1))):
        raise RuntimeError(f"pgbench {script} failed: {output[-800:]}")
    return _tps(output)


def measure(
    script: str,
    database_url: str,
    clients: int,
    runs: int,
    product: str = "",
    provider: str = "",
) -> Result:
    """`runs` runs of `script`; run r uses the slots (and bookings) of number r. `product`
    is the one checkout.sql buys, `provider` the one whose slots available_slots.sql lists."""
    values = {**_payloads(product or _uuid(0)), "provider": provider or "pgbench-none"}
    counts = [TRANSACTIONS] * runs
    if script == "accept.sql":
        counts = asyncio.run(booked_per_client(database_url, clients, runs))
        if min(counts) < 1:
            raise RuntimeError(f"book.sql left no bookings to accept in some run: {counts}")
        if TRANSACTIONS:
            counts = [min(c, TRANSACTIONS) for c in counts]
    rates = [
        run_once(script, database_url, clients, r * SLOTS_PER_CLIENT, values, counts[r])
        for r in range(runs)
    ]
    name = script.removesuffix(".sql").replace("_", "-")
    return figure(
        f"pgbench {name}.sql: throughput",
        rates,
        "transactions/s",
        f"{clients} clients, {runs} runs, "
        + (f"{min(counts)}+ transactions each per run" if any(counts) else f"{SECONDS:g} s each"),
        " ".join(command(script, clients, SECONDS, 0, min(counts))) + " -D ... DATABASE_URL",
    )
