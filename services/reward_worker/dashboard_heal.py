"""The console's healing routes: work owed by PostgreSQL against the broker (and queueing
again what is missing), and the SQS dead-letter queues of both booking queues (inspect,
redrive), next to the work queue's failed set.

The dead-letter routes use the same code as `make dlq-inspect` and `make dlq-redrive`
(shared.messaging.deadletter); a queue is named by its key below, never by a URL from the
request, so the console cannot be pointed at another queue.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from aiohttp import web
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, Field

from shared.config import Settings
from shared.errors import NotFound, Problem, ServiceUnavailable
from shared.http.app import SETTINGS, RequestHandler
from shared.http.lifecycle import DATABASE
from shared.http.validation import parse_optional_body, parse_query
from shared.logging import get_logger
from shared.messaging import deadletter
from shared.messaging.sqs import sqs_client
from shared.workqueue import WorkQueue

from .owed import owed_work, requeue_missing

log = get_logger(__name__)

Guard = Callable[[RequestHandler], RequestHandler]
SQS_ERRORS = (BotoCoreError, ClientError, OSError)


class SampleQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    limit: int = Field(10, ge=1, le=50, description="dead letters to show per queue")


class Redrive(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max: int | None = Field(None, ge=1, le=100_000, description="at most this many")


def booking_queues(settings: Settings) -> dict[str, str]:
    """The booking queues whose dead letters the console shows, by key."""
    return {
        "booking-request": settings.sqs_booking_request_queue_url,
        "booking-confirmation": settings.sqs_booking_confirmation_queue_url,
    }


async def _inspect(settings: Settings, name: str, url: str, limit: int) -> dict[str, Any]:
    try:
        async with sqs_client(settings) as client:
            found = await deadletter.inspect(client, url, limit=limit)
    except ValueError as exc:  # no redrive policy: nothing to show, and say why
        return {"queue": name, "error": str(exc)}
    except SQS_ERRORS as exc:
        log.warning("dead-letter queue unavailable", queue=name, error=repr(exc))
        return {"queue": name, "error": "SQS did not answer"}
    return {"queue": name, **found}


def add_routes(app: web.Application, key: web.AppKey[WorkQueue], guard: Guard) -> None:
    async def owed(request: web.Request) -> web.Response:
        return web.json_response(await owed_work(request.app[DATABASE], request.app[key]))

    async def requeue(request: web.Request) -> web.Response:
        return web.json_response(await requeue_missing(request.app[DATABASE], request.app[key]))

    async def dead_letters(request: web.Request) -> web.Response:
        query = parse_query(request, SampleQuery)
        settings = request.app[SETTINGS]
        found = await asyncio.gather(
            *(
                _inspect(settings, name, url, query.limit)
                for name, url in booking_queues(settings).items()
            )
        )
        return web.json_response({"queues": list(found)})

    async def redrive(request: web.Request) -> web.Response:
        name = request.match_info["name"]
        settings = request.app[SETTINGS]
        url = booking_queues(settings).get(name)
        if url is None:
            raise NotFound("dead-letter queue", name)
        body = await parse_optional_body(request, Redrive)
        try:
            async with sqs_client(settings) as client:
                result = await deadletter.redrive(client, url, max_messages=body.max)
        except ValueError as exc:
            raise Problem(409, str(exc)) from None
        except SQS_ERRORS as exc:
            log.warning("dead-letter redrive failed", queue=name, error=repr(exc))
            raise ServiceUnavailable("SQS did not answer; nothing was lost, try again") from None
        log.info("dead letters redriven", queue=name, sent=result.sent, failed=result.failed)
        return web.json_response({"queue": name, **result.__dict__})

    api = "/dashboard/api"
    app.router.add_get(f"{api}/owed", guard(owed))
    app.router.add_post(f"{api}/owed/requeue", guard(requeue))
    app.router.add_get(f"{api}/dead-letters", guard(dead_letters))
    app.router.add_post(f"{api}/dead-letters/{{name}}/redrive", guard(redrive))
