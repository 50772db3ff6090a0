"""The consumers' read sides check the token's role as well as its subject."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from services.notification_consumer.app import create_app as notification_app
from services.provider_consumer.app import create_app as provider_app
from shared.config import Settings
from shared.http.auth import mint_token
from tests.support.http import bearer, serve
from tests.support.wait import eventually

PROBLEM = "application/problem+json"


def quiet(settings: Settings, queue_url: str) -> Settings:
    """Settings whose consumer loops poll a queue of the test's own (empty)."""
    return settings.model_copy(
        update={
            "sqs_booking_request_queue_url": queue_url,
            "sqs_booking_confirmation_queue_url": queue_url,
            "consumer_wait_time": 1,
        }
    )


async def statuses(client: Any, path: str, settings: Settings, sub: str) -> dict[str, int]:
    """The status of `path` for a token of `sub` in each role, once the service is ready."""

    async def ready() -> bool:
        return bool((await client.get("/readyz")).status == 200)

    await eventually(ready, timeout=20, what="service ready")
    answers = {}
    for role in ("user", "customer", "provider", "admin"):
        token = bearer(mint_token(settings.jwt_secret, sub, role))
        response = await client.get(path, headers=token)
        answers[role] = response.status
        if response.status == 403:
            assert response.content_type == PROBLEM
    return answers


@pytest.mark.parametrize("sub_is_owner", [True, False])
async def test_notifications_are_read_by_their_user_or_customer_or_an_admin_only(
    settings: Settings, make_queue: Any, sub_is_owner: bool
) -> None:
    queue = await make_queue()
    recipient = f"user-{uuid.uuid4().hex[:8]}"
    sub = recipient if sub_is_owner else "someone-else"
    async with serve(notification_app(quiet(settings, queue.url))) as client:
        answers = await statuses(client, f"/users/{recipient}/notifications", settings, sub)
    owner = 200 if sub_is_owner else 403
    # A provider whose id happens to equal a user's id is still not that user.
    assert answers == {"user": owner, "customer": owner, "provider": 403, "admin": 200}


@pytest.mark.parametrize("sub_is_owner", [True, False])
async def test_an_inbox_is_read_by_its_provider_or_an_admin_only(
    settings: Settings, make_queue: Any, sub_is_owner: bool
) -> None:
    queue = await make_queue()
    provider = f"provider-{uuid.uuid4().hex[:8]}"
    sub = provider if sub_is_owner else "someone-else"
    async with serve(provider_app(quiet(settings, queue.url))) as client:
        answers = await statuses(client, f"/providers/{provider}/inbox", settings, sub)
    owner = 200 if sub_is_owner else 403
    assert answers == {"user": 403, "customer": 403, "provider": owner, "admin": 200}
