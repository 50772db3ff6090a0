"""Measure two referral-tree representations for the upline query (not a test).

    python -m tests.bench.referral_tree [nodes]

Builds, in a throwaway database, the same tree twice: (a) an `ancestors uuid[]` column
and (b) a plain `referrer_id` walked by a recursive CTE (what checkout uses). The tree is
random (each member referred by one of the recent members) plus a 1,000-deep chain.
Reports build time and the latency of `upline(customer, depth)` for depths 10 and 50.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import sys
import time
import uuid

import asyncpg

from tests.conftest import SERVER_DSN, _with_database, drop_database

SCHEMA = """
CREATE TABLE arr (id uuid PRIMARY KEY, referrer_id uuid REFERENCES arr, ancestors uuid[] NOT NULL);
CREATE TABLE cte (id uuid PRIMARY KEY, referrer_id uuid REFERENCES cte);
CREATE FUNCTION arr_upline(c uuid, d int) RETURNS TABLE (customer_id uuid, depth int)
LANGUAGE sql STABLE AS $$
    SELECT a.x, a.n::int FROM arr, unnest(arr.ancestors[1:d]) WITH ORDINALITY a(x, n)
    WHERE arr.id = c ORDER BY a.n $$;
CREATE FUNCTION cte_upline(c uuid, d int) RETURNS TABLE (customer_id uuid, depth int)
LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up(id, depth) AS (
        SELECT referrer_id, 1 FROM cte WHERE id = c AND referrer_id IS NOT NULL
        UNION ALL
        SELECT t.referrer_id, up.depth + 1 FROM up JOIN cte t ON t.id = up.id
        WHERE t.referrer_id IS NOT NULL AND up.depth < d)
    SELECT id, depth FROM up ORDER BY depth $$;
"""


def build_tree(nodes: int, shape: str) -> list[tuple[uuid.UUID, uuid.UUID | None]]:
    """`deep`: each member is referred by one of the 50 newest (depth grows with size);
    `wide`: by any earlier member (depth about ln(nodes)). Both start with a deep chain."""
    rng = random.Random(7)
    rows: list[tuple[uuid.UUID, uuid.UUID | None]] = [(uuid.uuid4(), None)]
    chain = 1000
    for n in range(1, nodes):
        if n < chain:
            referrer = rows[-1][0]  # the deep chain
        elif shape == "deep":
            referrer = rows[max(0, n - rng.randint(1, 50))][0]
        else:
            referrer = rows[rng.randrange(n)][0]
        rows.append((uuid.uuid4(), referrer))
    return rows


async def load(conn: asyncpg.Connection, rows: list[tuple[uuid.UUID, uuid.UUID | None]]) -> dict:
    ancestors: dict[uuid.UUID, list[uuid.UUID]] = {}
    arr_rows = []
    for node, referrer in rows:
        path = [] if referrer is None else [referrer, *ancestors[referrer]]
        ancestors[node] = path
        arr_rows.append((node, referrer, path))
    timings = {}
    started = time.perf_counter()
    await conn.copy_records_to_table("arr", records=arr_rows)
    timings["arr_load_s"] = time.perf_counter() - started
    started = time.perf_counter()
    await conn.copy_records_to_table("cte", records=rows)
    timings["cte_load_s"] = time.perf_counter() - started
    await conn.execute("ANALYZE arr; ANALYZE cte")
    timings["arr_size_mb"] = await conn.fetchval("SELECT pg_total_relation_size('arr')") / 2**20
    timings["cte_size_mb"] = await conn.fetchval("SELECT pg_total_relation_size('cte')") / 2**20
    return timings


async def latency(conn: asyncpg.Connection, fn: str, ids: list[uuid.UUID], depth: int) -> str:
    samples = []
    for node in ids:
        started = time.perf_counter()
        await conn.fetch(f"SELECT * FROM {fn}($1, $2)", node, depth)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p99 = samples[int(len(samples) * 0.99)]
    return f"median {statistics.median(samples):.3f} ms, p99 {p99:.3f} ms"


async def main(nodes: int, shape: str) -> None:
    name = f"bench_tree_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(SERVER_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    conn = await asyncpg.connect(_with_database(SERVER_DSN, name))
    try:
        await conn.execute(SCHEMA)
        rows = build_tree(nodes, shape)
        print(f"{nodes} customers, {shape} tree")
        for key, value in (await load(conn, rows)).items():
            print(f"  {key}: {value:.2f}")
        sample = random.Random(3).sample([r[0] for r in rows], 2000)
        deep = [r[0] for r in rows[900:1000]] * 20
        for depth in (10, 50):
            for fn in ("arr_upline", "cte_upline"):
                print(
                    f"  {fn} depth {depth}, random members: "
                    f"{await latency(conn, fn, sample, depth)}"
                )
                print(
                    f"  {fn} depth {depth}, deep members:   {await latency(conn, fn, deep, depth)}"
                )
    finally:
        await conn.close()
        await drop_database(name)


if __name__ == "__main__":
    args = sys.argv[1:]
    asyncio.run(main(int(args[0]) if args else 100_000, args[1] if len(args) > 1 else "wide"))
