"""Hostile input never gets a 5xx, and every 4xx is problem+json, on every HTTP service.

What a generator rarely produces: integers past 64 bits, NUL characters and lone surrogates,
deep nesting, numbers of thousands of digits, NaN, invalid UTF-8, odd content types, empty
bodies, extreme datetimes, and bytes that are not UTF-8 in headers.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient
from yarl import URL

from services.booking_api.app import create_app as booking_app
from services.checkout_api.app import create_app as checkout_app
from services.notification_consumer.app import create_app as notification_app
from services.provider_consumer.app import create_app as provider_app
from shared.config import Settings
from shared.http.app import PROBLEM_JSON
from shared.http.auth import mint_token
from shared.http.lifecycle import DATABASE
from tests.support.http import serve

Client = TestClient[web.Request, web.Application]
BIG = "9" * 25  # past 64 bits
NUL = "a\\u0000b"  # as JSON text
SURROGATE = "a\\ud800b"
HUGE = "9" * 5000  # more digits than Python parses by default
DEEP = "[" * 100_000 + "]" * 100_000


def bodies(valid: str, field: str) -> list[bytes]:
    """Hostile variants of a valid JSON object body whose text field is `field`."""
    base = valid[:-1] + ", " if valid != "{}" else "{"
    return [
        f'{base}"{field}": "{NUL}"}}'.encode(),
        f'{base}"{field}": "{SURROGATE}"}}'.encode(),
        f'{base}"{field}": {BIG}}}'.encode(),
        f'{base}"{field}": {HUGE}}}'.encode(),
        f'{base}"{field}": NaN}}'.encode(),
        f'{base}"{field}": Infinity}}'.encode(),
        f'{base}"{field}": 1e999}}'.encode(),
        DEEP.encode(),
        ('{"a": ' * 5000 + "1" + "}" * 5000).encode(),
        b'{"a": "\xff\xfe"}',
        b"\xff\xfe\x00\x00",
        b"",
        b"null",
        b"{",
    ]


async def check(client: Client, method: str, path: str, headers: dict[str, str], **kw: Any) -> str:
    """'' when the answer is fine, else a line saying what is wrong."""
    response = await client.request(method, URL(path, encoded=True), headers=headers, **kw)
    text = await response.text()
    if response.status >= 500 or (response.status >= 400 and response.content_type != PROBLEM_JSON):
        sent = (kw.get("data") or b"")[:60]
        return f"{method} {path[:80]} {sent!r} -> {response.status}: {text[:200]}"
    return ""


async def check_all(client: Client, cases: list[tuple[str, str, dict[str, str], Any]]) -> None:
    failures = []
    for method, path, headers, data in cases:
        for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
            sent = {**headers, "Content-Type": content_type, "Idempotency-Key": str(uuid.uuid4())}
            failure = await check(client, method, path, sent, data=data)
            if failure:
                failures.append(failure)
            if data is None:
                break
    assert not failures, "\n".join(failures)


async def raw_request(
    client: Client, head: bytes, body: bytes = b'{"name": "Ada"}'
) -> tuple[int, bytes]:
    """Send bytes no HTTP client would (header values that are not UTF-8)."""
    assert client.server.port is not None
    reader, writer = await asyncio.open_connection("127.0.0.1", client.server.port)
    try:
        writer.write(head + b"Host: x\r\nContent-Length: %d\r\n" % len(body))
        writer.write(b"Connection: close\r\n\r\n" + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), rest


@asynccontextmanager
async def running(factory: Callable[[Settings], web.Application], settings: Settings) -> Any:
    app = factory(settings)
    async with serve(app) as client:
        await app[DATABASE].wait_ready(timeout=10)
        yield client


def token(settings: Settings, sub: str, role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {mint_token(settings.jwt_secret, sub, role)}"}


def query_cases(paths: list[str], headers: dict[str, str]) -> list[tuple[str, str, Any, Any]]:
    hostile = [BIG, f"-{BIG}", "%00", "a%00b", "%ED%A0%80", "1e999", "NaN", "%FF", "x" * 5000]
    return [("GET", f"{p}{sep}{v}", headers, None) for p in paths for sep in "=" for v in hostile]


async def test_hostile_input_to_checkout_api_is_never_a_5xx(settings: Settings) -> None:
    admin = token(settings, "admin-1", "admin")
    async with running(checkout_app, settings) as client:
        customer = await client.post("/customers", json={"name": "Ada"}, headers=admin)
        ada = (await customer.json())["id"]
        product = await client.post("/products", json={"name": "Tea", "price": 100}, headers=admin)
        tea = (await product.json())["id"]
        me = token(settings, ada, "customer")
        cases: list[tuple[str, str, dict[str, str], Any]] = []
        for path, headers, valid, field in [
            ("/products", admin, '{"price": 100}', "name"),
            ("/customers", admin, "{}", "name"),
            ("/wallet/top-ups", admin, f'{{"customer_id": "{ada}"}}', "amount"),
            ("/carts/me/items", me, f'{{"product_id": "{tea}"}}', "quantity"),
            ("/checkout", me, "{}", "items"),
        ]:
            cases += [("POST", path, headers, body) for body in bodies(valid, field)]
        cases += query_cases(
            [
                "/products?limit",
                "/products?offset",
                "/wallet?before",
                "/wallet?limit",
                f"/customers/{ada}/rewards?before",
            ],
            me,
        )
        cases += query_cases(["/wallet?customer_id"], admin)
        cases += [
            ("GET", "/customers/a%00b", admin, None),
            ("GET", f"/customers/{BIG}", admin, None),
            ("GET", "/transactions/%00", me, None),
            ("DELETE", "/carts/me/items/a%00b", me, None),
        ]
        await check_all(client, cases)
        bearer = admin["Authorization"].encode()
        for headers in (
            b"Authorization: " + bearer + b"\r\nIdempotency-Key: a\xffb\r\n",
            b"Authorization: Bearer a\xffb\r\n",
        ):
            status, rest = await raw_request(client, b"POST /customers HTTP/1.1\r\n" + headers)
            assert 400 <= status < 500 and PROBLEM_JSON.encode() in rest, (headers, status, rest)


async def test_hostile_input_to_booking_api_is_never_a_5xx(settings: Settings) -> None:
    provider = f"provider-{uuid.uuid4().hex[:8]}"
    as_provider = token(settings, provider, "provider")
    user = token(settings, "user-1", "user")
    admin = token(settings, "admin-1", "admin")
    start = datetime.now(UTC) + timedelta(days=1)
    async with running(booking_app, settings) as client:
        slot = await client.post(
            f"/providers/{provider}/slots",
            json={
                "starts_at": start.isoformat(),
                "ends_at": (start + timedelta(hours=1)).isoformat(),
            },
            headers=as_provider,
        )
        slot_id = (await slot.json())["id"]
        booking = await client.post(
            "/bookings", json={"slot_id": slot_id, "notes": "hi"}, headers=user
        )
        booking_id = (await booking.json())["id"]
        cases: list[tuple[str, str, dict[str, str], Any]] = []
        window = '"starts_at": "2031-01-01T10:00:00Z"'
        for path, headers, valid, field in [
            (f"/providers/{provider}/slots", as_provider, f"{{{window}}}", "ends_at"),
            ("/bookings", user, f'{{"slot_id": "{slot_id}"}}', "notes"),
            (f"/bookings/{booking_id}/cancel", user, "{}", "reason"),
            (f"/providers/{provider}/bookings/{booking_id}/reject", as_provider, "{}", "reason"),
            (f"/providers/{provider}/bookings/{booking_id}/accept", as_provider, "{}", "x"),
        ]:
            cases += [("POST", path, headers, body) for body in bodies(valid, field)]
        extreme = [
            b'{"starts_at": "9999-12-31T23:00:00Z", "ends_at": "9999-12-31T23:59:59-14:00"}',
            b'{"starts_at": "0001-01-01T00:00:00+14:00", "ends_at": "0001-01-01T01:00:00+14:00"}',
            b'{"starts_at": "2031-01-01T10:00:00Z", "ends_at": "2031-01-01T11:00:00+99:00"}',
        ]
        cases += [("POST", f"/providers/{provider}/slots", as_provider, b) for b in extreme]
        cases += query_cases(
            [
                "/available-slots?limit",
                "/available-slots?provider_id",
                "/available-slots?cursor",
                "/available-slots?from",
                f"/providers/{provider}/bookings?status",
                f"/providers/{provider}/bookings?cursor",
            ],
            admin,
        )
        cases += [
            ("GET", "/available-slots?from=0001-01-01T00:00:00%2B14:00", user, None),
            ("GET", "/available-slots?to=9999-12-31T23:59:59-14:00", user, None),
            ("GET", "/providers/a%00b/bookings", admin, None),
            ("POST", "/providers/a%00b/slots", admin, b"{}"),
            ("GET", "/bookings/a%00b", user, None),
            ("GET", f"/bookings/{BIG}/history", user, None),
        ]
        await check_all(client, cases)


async def test_hostile_input_to_the_consumers_read_routes_is_never_a_5xx(
    settings: Settings,
) -> None:
    admin = token(settings, "admin-1", "admin")
    for factory, path in [
        (provider_app, "/providers/{id}/inbox"),
        (notification_app, "/users/{id}/notifications"),
    ]:
        async with running(factory, settings) as client:
            cases: list[tuple[str, str, dict[str, str], Any]] = []
            for ident in ("a%00b", "%ED%A0%80", "%FF", BIG, "x" * 3000):
                cases.append(("GET", path.format(id=ident), admin, None))
            cases += query_cases([path.format(id="p1") + "?limit"], admin)
            await check_all(client, cases)


async def test_hostile_trace_headers_are_replaced_and_the_write_succeeds(
    settings: Settings,
) -> None:
    """The correlation id and traceparent travel into the events a request causes: values
    that are not UTF-8, too long or malformed are replaced by fresh ones, never stored."""
    provider = f"provider-{uuid.uuid4().hex[:8]}"
    bearer = token(settings, provider, "provider")["Authorization"].encode()
    valid_trace = f"00-{uuid.uuid4().hex}-{uuid.uuid4().hex[:16]}-01".encode()
    async with running(booking_app, settings) as client:
        for n, header in enumerate(
            [
                b"traceparent: a\xffb",
                b"traceparent: " + b"0" * 7000,
                b"traceparent: not-a-traceparent",
                b"X-Correlation-ID: a\xffb",
                b"X-Correlation-ID: " + b"y" * 7000,
                b"X-Correlation-ID: has spaces and\ttabs",
                b"traceparent: " + valid_trace + b"\r\nX-Correlation-ID: order-42.retry_1",
            ]
        ):
            start = datetime.now(UTC) + timedelta(days=3, hours=n)
            end = start + timedelta(minutes=30)
            body = f'{{"starts_at": "{start.isoformat()}", "ends_at": "{end.isoformat()}"}}'
            status, rest = await raw_request(
                client,
                f"POST /providers/{provider}/slots HTTP/1.1\r\n".encode()
                + b"Authorization: "
                + bearer
                + b"\r\nContent-Type: application/json\r\n"
                + header
                + b"\r\n",
                body.encode(),
            )
            assert status == 201, (header[:60], status, rest[:300])
            echoed = next(
                line.split(b": ", 1)[1]
                for line in rest.split(b"\r\n")
                if line.lower().startswith(b"x-correlation-id:")
            )
            if b"order-42" in header:
                assert echoed == b"order-42.retry_1"  # a sane id is kept
            elif b"X-Correlation-ID" in header:
                assert len(echoed) == 36  # replaced by a fresh one
