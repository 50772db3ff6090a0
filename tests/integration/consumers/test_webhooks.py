"""Webhooks against a real local HTTP receiver: Standard Webhooks signatures, replays
detectable, redirects never followed nor counted as delivered."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
from aiohttp import web

from services.notification_consumer.app import create_app
from shared.config import Settings
from shared.http.auth import mint_token
from shared.messaging.channels import (
    ID_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Outgoing,
    WebhookChannel,
    verify,
)
from tests.integration.consumers.conftest import booking_event
from tests.support.http import bearer, serve
from tests.support.wait import eventually


class Receiver:
    """An HTTP endpoint that records what reaches it; `/moved` redirects to `/landing`."""

    def __init__(self) -> None:
        self.hooks: list[tuple[dict[str, str], bytes]] = []
        self.landed: list[str] = []
        self.moved = 0
        self.redirecting = True
        self.app = web.Application()
        self.app.router.add_post("/hook", self.hook)
        self.app.router.add_post("/moved", self.move)
        self.app.router.add_route("*", "/landing", self.land)

    async def hook(self, request: web.Request) -> web.Response:
        self.hooks.append((dict(request.headers), await request.read()))
        return web.Response(status=204)

    async def move(self, request: web.Request) -> web.Response:
        if not self.redirecting:
            return await self.hook(request)
        self.moved += 1
        raise web.HTTPFound("/landing")

    async def land(self, request: web.Request) -> web.Response:
        self.landed.append(request.method)
        return web.Response(status=200)


def notice() -> Outgoing:
    return Outgoing(
        id=str(uuid.uuid4()),
        recipient_id="user-1",
        kind="BOOKING_CONFIRMED",
        subject="Your booking is confirmed",
        body="See you soon",
        data={"booking_id": str(uuid.uuid4())},
        created_at=datetime.now(UTC),
    )


def independent_signature(key: bytes, headers: dict[str, str], body: bytes) -> str:
    """The signature as the Standard Webhooks specification defines it, computed here."""
    signed = f"{headers[ID_HEADER]}.{headers[TIMESTAMP_HEADER]}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


async def deliver(settings: Settings, url: str, secret: str) -> Outgoing:
    outgoing = notice()
    configured = settings.model_copy(update={"webhook_url": url, "webhook_secret": secret})
    async with aiohttp.ClientSession() as session:
        await WebhookChannel(configured, session).send(outgoing)
    return outgoing


async def test_a_webhook_carries_a_standard_webhooks_signature_of_id_time_and_body(
    settings: Settings,
) -> None:
    receiver = Receiver()
    key = secrets.token_bytes(32)
    raw = secrets.token_urlsafe(32)
    async with serve(receiver.app) as client:
        url = str(client.make_url("/hook"))
        sent = await deliver(settings, url, "whsec_" + base64.b64encode(key).decode())
        await deliver(settings, url, raw)
    (whsec_headers, body), (raw_headers, raw_body) = receiver.hooks
    headers = {name.lower(): value for name, value in whsec_headers.items()}
    assert headers[ID_HEADER] == sent.id
    assert abs(int(headers[TIMESTAMP_HEADER]) - time.time()) < 30
    assert headers[SIGNATURE_HEADER] == independent_signature(key, headers, body)
    assert json.loads(body)["id"] == sent.id
    raw_headers = {name.lower(): value for name, value in raw_headers.items()}
    assert raw_headers[SIGNATURE_HEADER] == independent_signature(
        raw.encode(), raw_headers, raw_body
    )
    assert verify("whsec_" + base64.b64encode(key).decode(), headers, body)
    assert verify(raw, raw_headers, raw_body)
    assert not verify(raw, raw_headers, raw_body + b" ")
    assert not verify(secrets.token_urlsafe(32), raw_headers, raw_body)


async def test_a_replayed_delivery_is_detected_by_its_timestamp(settings: Settings) -> None:
    receiver = Receiver()
    secret = secrets.token_urlsafe(32)
    async with serve(receiver.app) as client:
        await deliver(settings, str(client.make_url("/hook")), secret)
    ((captured, body),) = receiver.hooks
    headers = {name.lower(): value for name, value in captured.items()}
    stamp = int(headers[TIMESTAMP_HEADER])
    assert verify(secret, headers, body, now=stamp + 60)
    # The same request replayed ten minutes later is refused...
    assert not verify(secret, headers, body, now=stamp + 600)
    # ...and refreshing its timestamp breaks the signature, which covers it.
    assert not verify(
        secret, {**headers, TIMESTAMP_HEADER: str(stamp + 600)}, body, now=stamp + 600
    )
    assert not verify(secret, {**headers, ID_HEADER: str(uuid.uuid4())}, body)
    assert not verify(secret, {**headers, TIMESTAMP_HEADER: "\uff11\uff12\uff13"}, body)


async def test_a_redirect_is_a_failed_delivery_that_is_retried_and_never_marked_sent(
    settings: Settings, make_queue: Any
) -> None:
    receiver = Receiver()
    queue = await make_queue()
    user = f"user-{uuid.uuid4().hex[:8]}"
    async with serve(receiver.app) as hook:
        app_settings = settings.model_copy(
            update={
                "sqs_booking_confirmation_queue_url": queue.url,
                "consumer_wait_time": 1,
                "webhook_url": str(hook.make_url("/moved")),
                "notification_retry_base": 0.05,
            }
        )
        token = bearer(mint_token(settings.jwt_secret, user, "user"))
        async with serve(create_app(app_settings)) as client:
            await queue.send([booking_event("BOOKING_CONFIRMED", provider_id="p-1", user_id=user)])

            async def webhook_state() -> str | None:
                response = await client.get(f"/users/{user}/notifications", headers=token)
                items = (await response.json())["items"]
                return items[0]["channels"].get("webhook") if items else None

            await eventually(lambda: _at_least(receiver, 3), timeout=20, what="retried")
            assert await webhook_state() != "sent"
            assert receiver.landed == []
            assert receiver.hooks == []

            receiver.redirecting = False
            await eventually(
                lambda: _equals(webhook_state, "sent"), timeout=20, what="sent once answered"
            )
    assert len(receiver.hooks) == 1
    assert receiver.landed == []


async def _at_least(receiver: Receiver, n: int) -> bool:
    return receiver.moved >= n


async def _equals(probe: Any, expected: str) -> bool:
    return bool(await probe() == expected)
