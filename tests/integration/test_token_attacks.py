"""Every route of every HTTP process, attacked with every kind of bad token.

The routes come from each process's own OpenAPI document, so a route added later is attacked
too. Each one, called with no token, a malformed header, an expired token, one signed with
another key, one with `alg: none`, one of another HMAC algorithm, or one without a known role,
must answer 401 problem+json and do nothing. Who may do what with a valid token (wrong role,
another principal's resource) is tested per route beside each service's tests.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import jwt
import pytest
from aiohttp import web

from services.booking_api.app import create_app as booking_app
from services.checkout_api.app import create_app as checkout_app
from services.notification_consumer.app import create_app as notification_app
from services.provider_consumer.app import create_app as provider_app
from shared.config import Settings
from shared.http.auth import mint_token
from shared.messaging.sqs import sqs_client
from tests.support.http import serve

PROBLEM = "application/problem+json"
PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"}


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def bad_tokens(secret: str) -> dict[str, str | None]:
    """Authorization header values, by the attack each one is."""
    now = int(time.time())
    claims = {"sub": "mallory", "role": "admin", "iat": now, "exp": now + 3600}
    return {
        "none": None,
        "not bearer": "Basic bWFsbG9yeTpzZWNyZXQ=",
        "garbage": "Bearer not.a.token",
        "empty bearer": "Bearer ",
        "expired": f"Bearer {mint_token(secret, 'mallory', 'admin', ttl=-60)}",
        "another key": f"Bearer {jwt.encode(claims, 'k' * 64, 'HS256')}",
        "alg none": f"Bearer {_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(claims)}.",
        "alg HS512": f"Bearer {jwt.encode(claims, secret, 'HS512')}",
        "unknown role": f"Bearer {jwt.encode({**claims, 'role': 'root'}, secret, 'HS256')}",
        "no exp": f"Bearer {jwt.encode({'sub': 'mallory', 'role': 'admin'}, secret, 'HS256')}",
    }


def operations(document: dict[str, Any]) -> list[tuple[str, str]]:
    """(method, path with its parameters filled) of every secured operation."""
    found = []
    for path, item in document["paths"].items():
        if path in PUBLIC:
            continue
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            if operation.get("security", document.get("security")) == []:
                continue
            found.append((method.upper(), re.sub(r"\{[^}]+\}", str(uuid.uuid4()), path)))
    return found


@pytest.fixture
async def quiet_settings(settings: Settings) -> AsyncIterator[Settings]:
    """Settings whose consumers poll an empty queue of this test's own."""
    async with sqs_client(settings) as client:
        url = (await client.create_queue(QueueName=f"attacks-{uuid.uuid4().hex[:12]}"))["QueueUrl"]
        yield settings.model_copy(
            update={
                "sqs_booking_request_queue_url": url,
                "sqs_booking_confirmation_queue_url": url,
                "consumer_wait_time": 1,
            }
        )
        await client.delete_queue(QueueUrl=url)


APPS: dict[str, Callable[[Settings], web.Application]] = {
    "booking_api": booking_app,
    "checkout_api": checkout_app,
    "provider_consumer": provider_app,
    "notification_consumer": notification_app,
}


@pytest.mark.parametrize("service", list(APPS))
async def test_every_route_refuses_every_bad_token_with_401(
    service: str, quiet_settings: Settings
) -> None:
    async with serve(APPS[service](quiet_settings)) as client:
        document = await (await client.get("/openapi.json")).json()
        routes = operations(document)
        assert routes, f"{service} documents no secured route"
        wrong = []
        for method, path in routes:
            for attack, header in bad_tokens(quiet_settings.jwt_secret).items():
                headers = {"Idempotency-Key": str(uuid.uuid4())}
                if header is not None:
                    headers["Authorization"] = header
                response = await client.request(method, path, json={}, headers=headers)
                if response.status != 401 or response.content_type != PROBLEM:
                    wrong.append((method, path, attack, response.status, response.content_type))
    assert not wrong, wrong
