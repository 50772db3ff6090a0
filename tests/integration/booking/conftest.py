"""Fixtures of the booking tests: a running booking_api and queues of a test's own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from shared.config import Settings
from shared.messaging.sqs import provision_queues, sqs_client
from tests.integration.booking.api import BookingApi, running


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[BookingApi]:
    async with running(settings) as api:
        yield api


@pytest.fixture
async def own_queues(settings: Settings) -> Settings:
    """Settings whose booking queues nobody else reads, so messages can be counted."""
    suffix = uuid.uuid4().hex[:10]
    base = settings.sqs_booking_request_queue_url.rsplit("/", 1)[0]
    mine = settings.model_copy(
        update={
            "sqs_booking_request_queue_url": f"{base}/booking-requests-{suffix}",
            "sqs_booking_confirmation_queue_url": f"{base}/booking-confirmations-{suffix}",
        }
    )
    async with sqs_client(mine) as client:
        await provision_queues(
            client,
            [mine.sqs_booking_request_queue_url, mine.sqs_booking_confirmation_queue_url],
        )
    return mine
