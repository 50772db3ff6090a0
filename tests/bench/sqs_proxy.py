"""A counting HTTP proxy in front of the SQS server: every call the services make passes
through it, so the calls are counted where they leave the client, per action, with the
messages each carries (batch entries)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from urllib.parse import parse_qs

import aiohttp
from aiohttp import web

from tests.bench.processes import free_port

HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "keep-alive"}


class Counts:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.messages: Counter[str] = Counter()  # entries for batch calls, 1 otherwise

    def record(self, action: str, body: bytes) -> None:
        self.calls[action] += 1
        entries = 1
        if action.endswith("Batch"):
            try:
                entries = len(json.loads(body).get("Entries", []))
            except ValueError:
                form = parse_qs(body.decode(errors="replace"))
                entries = sum(1 for key in form if key.endswith(".Id"))
        self.messages[action] += entries

    def reset(self) -> None:
        self.calls.clear()
        self.messages.clear()


def _action(request: web.Request, body: bytes) -> str:
    target = request.headers.get("X-Amz-Target", "")
    if target:
        return target.rsplit(".", 1)[-1]
    return parse_qs(body.decode(errors="replace")).get("Action", ["unknown"])[0]


# Called with the action, the request's body and the answer's body of every call.
Observer = Callable[[str, bytes, bytes], None]


@asynccontextmanager
async def counting_proxy(
    upstream: str, observe: Observer | None = None
) -> AsyncIterator[tuple[str, Counts]]:
    """Serve on a free loopback port until the block ends; yields its URL and the counts.
    `observe`, if given, sees each call as its answer passes (it must not block)."""
    counts = Counts()
    session = aiohttp.ClientSession(auto_decompress=False)

    async def forward(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        action = _action(request, body)
        counts.record(action, body)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        async with session.request(
            request.method, upstream + request.path_qs, headers=headers, data=body
        ) as answer:
            payload = await answer.read()
            if observe is not None:
                observe(action, body, payload)
            kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP_BY_HOP}
            return web.Response(status=answer.status, body=payload, headers=kept)

    app = web.Application(client_max_size=16 * 1024**2)
    app.router.add_route("*", "/{tail:.*}", forward)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}", counts
    finally:
        await runner.cleanup()
        await session.close()
