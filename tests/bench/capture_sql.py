"""Print the SQL statements one request of each benchmarked kind sends, from PostgreSQL's
statement log: what tests/bench/pgbench/*.sql must send too.

    python -m tests.bench.capture_sql [--log /var/log/postgresql/postgresql-15-main.log]

It makes a scratch database with `log_statement = all` (its setting alone, no server
change), runs booking_api and checkout_api on it as real processes, sends each request
twice (the second shows the steady state, prepared statements cached), and prints the
statements each connection sent for the second one, in order. Needs a superuser and the
server's log file (the default is where Debian's packages write it).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from shared.config import Settings
from shared.logging import configure_logging
from tests.bench.http_data import bearer
from tests.bench.processes import free_port, service
from tests.conftest import SERVER_DSN, SESSION_JWT_SECRET, drop_database
from tests.support.sqs_server import SqsServer
from tools import commands

ENTRY = re.compile(r"^\d{4}-\d\d-\d\d [\d:.]+ \w+ \[(\d+)\] \S+@(\S+) (LOG|DETAIL):  (.*)$")
NOISE = ("pg_advisory_unlock_all", "typeinfo_tree", "set_config('jit'", "AS depth")


Mark = tuple[str, datetime, datetime]  # a request's name, when it was sent, when answered


async def _requests(settings: Settings, marks: list[Mark]) -> None:
    booking = f"http://127.0.0.1:{settings.booking_api_port}"
    shop = f"http://127.0.0.1:{settings.checkout_api_port}"
    admin = {"Authorization": bearer(settings, "admin-1", "admin")}
    async with aiohttp.ClientSession() as http:

        async def call(name: str, method: str, url: str, **kw: Any) -> dict[str, Any]:
            sent = datetime.now(UTC)
            async with http.request(method, url, **kw) as response:
                if response.status >= 300:
                    raise RuntimeError(f"{name}: {response.status} {await response.text()}")
                body = dict(await response.json())
            marks.append((name, sent, datetime.now(UTC)))
            await asyncio.sleep(0.3)  # requests apart in time: the log is split by time
            return body

        provider = {"Authorization": bearer(settings, "p1", "provider")}
        user = {"Authorization": bearer(settings, "u1", "user")}
        product = await call(
            "setup", "POST", f"{shop}/products", json={"name": "t", "price": 250}, headers=admin
        )
        buyer = await call("setup", "POST", f"{shop}/customers", json={"name": "b"}, headers=admin)
        top_up = {"customer_id": buyer["id"], "amount": 100_000}
        await call(
            "setup",
            "POST",
            f"{shop}/wallet/top-ups",
            json=top_up,
            headers={**admin, "Idempotency-Key": str(uuid.uuid4())},
        )
        customer = {"Authorization": bearer(settings, str(buyer["id"]), "customer")}
        for _ in range(2):
            start = datetime.now(UTC) + timedelta(days=1 + len(marks))
            slot = {
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=1)).isoformat(),
            }
            made = await call(
                "setup", "POST", f"{booking}/providers/p1/slots", json=slot, headers=provider
            )
            booked = await call(
                "POST /bookings",
                "POST",
                f"{booking}/bookings",
                json={"slot_id": made["id"]},
                headers=user,
            )
            await call(
                "accept",
                "POST",
                f"{booking}/providers/p1/bookings/{booked['id']}/accept",
                headers=provider,
            )
            await call(
                "GET /available-slots",
                "GET",
                f"{booking}/available-slots?provider_id=p1",
                headers=user,
            )
            items = {"items": [{"product_id": product["id"], "quantity": 2}]}
            await call(
                "POST /checkout",
                "POST",
                f"{shop}/checkout",
                json=items,
                headers={**customer, "Idempotency-Key": str(uuid.uuid4())},
            )
            await call("GET /wallet", "GET", f"{shop}/wallet", headers=customer)


def _entries(log: Path, database: str) -> list[tuple[datetime, str, str]]:
    """(time, pid, text) of each LOG entry of `database`, continuation lines joined."""
    entries: list[tuple[datetime, str, str]] = []
    for line in log.read_text(errors="replace").splitlines():
        found = ENTRY.match(line)
        if found is None:
            if entries and line.startswith("\t"):
                at, pid, text = entries[-1]
                entries[-1] = (at, pid, text + " " + line.strip())
            continue
        if found.group(2) != database or found.group(3) != "LOG":
            continue
        at = datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S.%f").replace(tzinfo=UTC)
        entries.append((at, found.group(1), found.group(4)))
    return entries


def _show(marks: list[Mark], entries: list[tuple[datetime, str, str]]) -> None:
    last = {name: (sent, done) for name, sent, done in marks if name != "setup"}
    for name, (sent, done) in last.items():
        print(f"-- {name}")
        for at, pid, text in entries:
            if sent <= at <= done and not any(n in text for n in NOISE):
                print(f"[{pid}] {re.sub(r'^execute [^:]+: ', '', text)}")
        print()


async def capture(log: Path) -> None:
    suffix = uuid.uuid4().hex[:8]
    database = f"capture_{suffix}"
    sqs = SqsServer().start()
    base = f"{sqs.url}/123456789012"
    settings = Settings(
        database_url=SERVER_DSN.rsplit("/", 1)[0] + f"/{database}",
        sqs_endpoint_url=sqs.url,
        sqs_booking_request_queue_url=f"{base}/booking-requests-{suffix}",
        sqs_booking_confirmation_queue_url=f"{base}/booking-confirmations-{suffix}",
        work_queue_name=f"capture-{suffix}",
        jwt_secret=SESSION_JWT_SECRET,
        log_level="WARNING",
        booking_api_port=free_port(),
        checkout_api_port=free_port(),
    )
    marks: list[Mark] = []
    try:
        await commands.migrate_all(settings)
        await commands.provision(settings)
        server = await asyncpg.connect(SERVER_DSN)
        try:
            await server.execute(f"ALTER DATABASE {database} SET log_statement = 'all'")
        finally:
            await server.close()
        with (
            service("booking_api", settings, settings.booking_api_port),
            service("checkout_api", settings, settings.checkout_api_port),
        ):
            await _requests(settings, marks)
    finally:
        sqs.stop()
        await drop_database(database)
    _show(marks, _entries(log, database))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--log", type=Path, default=Path("/var/log/postgresql/postgresql-15-main.log")
    )
    configure_logging("capture_sql", "WARNING", json=True)
    asyncio.run(capture(parser.parse_args().log))


if __name__ == "__main__":
    main()
