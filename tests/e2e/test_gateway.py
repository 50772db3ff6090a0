"""The API gateway: Debian's nginx runs infra/nginx/nginx.conf in front of the running stack.

The configuration is the repository's own file; only its listen port, the upstream addresses
(the services' ports of this stack) and its paths (a temporary prefix) are rewritten. nginx
runs as this test's own process, never as the machine's service.
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest

from shared.config import Settings
from shared.http.auth import mint_token
from tests.e2e.api_client import ApiClient
from tests.support.sqs_server import free_port
from tests.support.wait import eventually
from tools.services import ROOT

pytestmark = pytest.mark.e2e

CONF = ROOT / "infra" / "nginx" / "nginx.conf"
NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")


def gateway_conf(settings: Settings, port: int) -> str:
    """The repository's configuration with this stack's ports; nothing else changes."""
    text = CONF.read_text()
    replacements = {
        "listen 8080;": f"listen 127.0.0.1:{port};",
        "server booking-api:8081;": f"server 127.0.0.1:{settings.booking_api_port};",
        "server checkout-api:8082;": f"server 127.0.0.1:{settings.checkout_api_port};",
        "access_log /dev/stdout gateway;": "access_log access.log gateway;",
    }
    for old, new in replacements.items():
        assert text.count(old) == 1, f"{old!r} is no longer in {CONF.name}"
        text = text.replace(old, new)
    return text


@pytest.fixture(scope="module")
def gateway(running_stack: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """nginx on a port of its own in front of the stack; its port."""
    if NGINX is None:
        pytest.skip("nginx is not installed (make test installs Debian's nginx when it can)")
    prefix: Path = tmp_path_factory.mktemp("gateway")
    (prefix / "temp").mkdir()
    port = free_port()
    (prefix / "nginx.conf").write_text(gateway_conf(running_stack, port))
    command = [NGINX, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-e", "stderr"]
    checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr
    with (prefix / "nginx.out").open("wb") as out:
        process = subprocess.Popen([*command, "-g", "daemon off;"], stdout=out, stderr=out)
    try:
        asyncio.run(wait_for_gateway(process, port))
        yield port
    finally:
        process.terminate()  # SIGTERM: nginx's fast shutdown
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


async def wait_for_gateway(process: subprocess.Popen[bytes], port: int) -> None:
    async def answers() -> bool:
        assert process.poll() is None, f"nginx exited with {process.returncode}"
        url = f"http://127.0.0.1:{port}/gateway/healthz"
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return response.status == 200

    await eventually(answers, timeout=10, interval=0.1, what="the gateway answering")


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


@pytest.fixture
def api(http: aiohttp.ClientSession, running_stack: Settings, gateway: int) -> ApiClient:
    """The journeys' client, sending every booking and checkout call to the gateway."""
    client = ApiClient(http, running_stack)
    client.booking = client.checkout = gateway
    return client


async def test_a_user_books_and_the_provider_accepts_through_the_gateway(api: ApiClient) -> None:
    provider, user = f"provider-{uuid.uuid4().hex[:8]}", f"user-{uuid.uuid4().hex[:8]}"
    starts = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)
    slot = await api.publish_slot(provider, starts, starts + timedelta(hours=1))
    assert slot["id"] in [s["id"] for s in await api.open_slots(user, provider)]

    booking = await api.book(user, slot["id"])
    assert booking["status"] == "pending"
    assert (await api.accept(provider, booking["id"]))["status"] == "confirmed"
    assert slot["id"] not in [s["id"] for s in await api.open_slots(user, provider)]


async def test_a_customer_checks_out_through_the_gateway_and_pays_once(api: ApiClient) -> None:
    buyer = await api.register_customer("Gateway buyer")
    lamp = await api.add_product(f"Lamp {uuid.uuid4().hex[:6]}", price=2_500)
    await api.top_up(buyer["id"], 10_000)
    await api.add_to_cart(buyer["id"], lamp["id"], quantity=2)
    key = f"order-{uuid.uuid4()}"

    paid = await api.check_out(buyer["id"], key)

    assert (paid["total"], paid["balance"]) == (5_000, 5_000)
    assert await api.check_out(buyer["id"], key) == paid  # the retry through nginx pays nothing
    assert (await api.wallet(buyer["id"]))["balance"] == 5_000


async def test_the_gateway_keeps_a_callers_correlation_id_and_makes_one_when_missing(
    http: aiohttp.ClientSession, gateway: int
) -> None:
    url = f"http://127.0.0.1:{gateway}/products"
    async with http.get(url, headers={"X-Correlation-ID": "order-42"}) as response:
        assert response.status == 401  # the service answered (no token): passed through
        assert response.headers.getall("X-Correlation-ID") == ["order-42"]
    async with http.get(url) as response:
        made = response.headers.getall("X-Correlation-ID")
    async with http.get(url, headers={"X-Correlation-ID": "no spaces allowed"}) as response:
        replaced = response.headers.getall("X-Correlation-ID")
    for ids in (made, replaced):
        assert len(ids) == 1 and re.fullmatch(r"[0-9a-f]{32}", ids[0]), ids


async def test_the_gateway_answers_unknown_paths_and_large_bodies_with_problems(
    http: aiohttp.ClientSession, gateway: int, running_stack: Settings
) -> None:
    base = f"http://127.0.0.1:{gateway}"
    async with http.get(f"{base}/admin/secrets") as response:
        assert response.status == 404
        assert response.content_type == "application/problem+json"
        assert (await response.json(content_type=None))["status"] == 404
    token = mint_token(running_stack.jwt_secret, "big-spender", "customer")
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    body = b'{"product_id": "' + b"x" * 2_000_000 + b'", "quantity": 1}'
    async with http.post(
        f"{base}/carts/me/items", data=io.BytesIO(body), headers=headers
    ) as response:
        assert response.status == 413
        assert response.content_type == "application/problem+json"


async def test_a_client_over_the_rate_limit_gets_429_problems_and_is_served_again_later(
    http: aiohttp.ClientSession, gateway: int
) -> None:
    url = f"http://127.0.0.1:{gateway}/products"

    async def one() -> tuple[int, str, str | None, bytes]:
        async with http.get(url) as response:
            body = await response.read()
            return response.status, response.content_type, response.headers.get("Retry-After"), body

    started = time.monotonic()
    answers = await asyncio.gather(*(one() for _ in range(150)))
    elapsed = time.monotonic() - started

    # Without a token the service answers 401: cheap, and proof the request got through.
    limited = [a for a in answers if a[0] == 429]
    served = [a for a in answers if a[0] == 401]
    # 20 a second with bursts of 40: within `elapsed`, at most 41 + 20 per second get through.
    assert limited and len(served) <= 41 + 20 * elapsed + 1, (len(served), elapsed)
    assert {a[0] for a in answers} <= {401, 429}
    _, content_type, retry_after, body = limited[0]
    assert content_type == "application/problem+json" and retry_after == "1"
    assert b'"status":429' in body

    async def served_again() -> bool:
        return (await one())[0] == 401

    await eventually(served_again, timeout=5, interval=0.2, what="the client served again")
