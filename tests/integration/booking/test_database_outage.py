"""With PostgreSQL unreachable the API answers 503 (never 500) and recovers by itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import pytest

from shared.config import Settings
from tests.integration.booking.api import BookingApi, running, unique
from tests.support.proxy import TcpProxy
from tests.support.wait import eventually


@pytest.fixture
async def proxy(settings: Settings) -> AsyncIterator[TcpProxy]:
    parts = urlsplit(settings.database_url)
    proxy = await TcpProxy(parts.hostname or "127.0.0.1", parts.port or 5432).start()
    yield proxy
    await proxy.close()


@pytest.fixture
async def api(settings: Settings, proxy: TcpProxy) -> AsyncIterator[BookingApi]:
    parts = urlsplit(settings.database_url)
    through = urlunsplit(parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}"))
    async with running(settings.model_copy(update={"database_url": through})) as api:
        yield api


async def test_database_outage_is_503_and_service_recovers(
    api: BookingApi, proxy: TcpProxy
) -> None:
    provider, user = unique("provider"), unique("user")
    slot = await api.create_slot(provider)
    await proxy.down()

    for response in (
        await api.book(user, slot["id"]),
        await api.get("/available-slots", user, "user"),
        await api.client.get("/readyz"),
    ):
        assert response.status == 503
        assert response.content_type == "application/problem+json"

    await proxy.up()

    async def booked() -> bool:
        return int((await api.book(user, slot["id"])).status) == 201

    await eventually(booked, timeout=30, interval=0.2, what="booking after recovery")
