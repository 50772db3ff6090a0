"""The console's JSON routes over the work queue: lists, a job's page, actions, the chart.

Every route is registered through `dashboard.guarded` (host and origin checks, an admin
token). Bad input is a 400 or 422 problem; a broker that does not answer is a 503.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from shared.errors import NotFound
from shared.http.app import RequestHandler
from shared.http.validation import parse_body, parse_query
from shared.workqueue import WorkQueue
from shared.workqueue.console import clean, error_classes, retry_error_class
from shared.workqueue.history import journal_for
from shared.workqueue.inspect import MAX_LIMIT, Search, job_page, list_jobs

Guard = Callable[[RequestHandler], RequestHandler]
MAX_ID = 255
MAX_AGE = 10 * 365 * 24 * 3600  # seconds


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class JobsQuery(Strict):
    state: Literal["waiting", "active", "delayed", "failed", "completed"] = "failed"
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    cursor: str | None = Field(None, max_length=1000)
    id: str | None = Field(None, min_length=1, max_length=MAX_ID, description="a job id")
    field: str | None = Field(None, min_length=1, max_length=200, description="payload path")
    value: str | None = Field(None, max_length=1000)


class FailedQuery(Strict):
    limit: int = Field(50, ge=1, le=500, description="failed jobs to list")


class ErrorClass(Strict):
    error_class: str = Field(min_length=1, max_length=200)


class Clean(Strict):
    state: Literal["completed", "failed"]
    older_than: float = Field(ge=0, le=MAX_AGE, description="seconds")


class ChartQuery(Strict):
    minutes: int = Field(60, ge=1, le=120)


def add_routes(app: web.Application, key: web.AppKey[WorkQueue], guard: Guard) -> None:
    """The queue's routes under /dashboard/api, each behind `guard`."""

    def queue_of(request: web.Request) -> WorkQueue:
        return request.app[key]

    # RabbitMQ's failed set and delay queues are read by taking every message and putting
    # it back: two reads at once would each see only what the other does not hold, so this
    # process's console reads and acts on them one request at a time.
    scans = asyncio.Lock()

    def one_at_a_time(handler: RequestHandler) -> RequestHandler:
        async def serial(request: web.Request) -> web.StreamResponse:
            if queue_of(request).backend != "amqp":
                return await handler(request)
            async with scans:
                return await handler(request)

        return guard(serial)

    async def status(request: web.Request) -> web.Response:
        queue = queue_of(request)
        counts = await queue.status()
        return web.json_response(
            {
                "queue": queue.name,
                "backend": queue.backend,
                "counts": counts,
                "paused": await queue.is_paused(),
            }
        )

    async def jobs(request: web.Request) -> web.Response:
        query = parse_query(request, JobsQuery)
        search = Search(job_id=query.id, field=query.field, value=query.value)
        page = await list_jobs(
            queue_of(request), query.state, limit=query.limit, cursor=query.cursor, search=search
        )
        return web.json_response(page.to_dict())

    async def failed(request: web.Request) -> web.Response:
        query = parse_query(request, FailedQuery)
        return web.json_response({"jobs": await queue_of(request).failed(0, query.limit)})

    async def job(request: web.Request) -> web.Response:
        job_id = _job_id(request)
        found = await job_page(queue_of(request), job_id)
        if found is None:
            raise NotFound("job", job_id)
        return web.json_response(found)

    async def retry(request: web.Request) -> web.Response:
        job_id = _job_id(request)
        if not await queue_of(request).retry_failed(job_id):
            raise NotFound("failed job", job_id)
        return web.json_response({"id": job_id, "state": "waiting"})

    async def promote(request: web.Request) -> web.Response:
        job_id = _job_id(request)
        if not await queue_of(request).promote(job_id):
            raise NotFound("delayed job", job_id)
        return web.json_response({"id": job_id, "state": "waiting"})

    async def remove(request: web.Request) -> web.Response:
        job_id = _job_id(request)
        queue = queue_of(request)
        if not await queue.remove(job_id):
            raise NotFound("job", job_id)
        await journal_for(queue).forget([job_id])
        return web.json_response({"id": job_id, "removed": True})

    async def classes(request: web.Request) -> web.Response:
        return web.json_response({"error_classes": await error_classes(queue_of(request))})

    async def retry_class(request: web.Request) -> web.Response:
        body = await parse_body(request, ErrorClass)
        moved = await retry_error_class(queue_of(request), body.error_class)
        return web.json_response({"error_class": body.error_class, "retried": moved})

    async def clean_up(request: web.Request) -> web.Response:
        body = await parse_body(request, Clean)
        removed = await clean(queue_of(request), body.state, body.older_than)
        return web.json_response({"state": body.state, "removed": removed})

    async def pause(request: web.Request) -> web.Response:
        await queue_of(request).pause()
        return web.json_response({"paused": True})

    async def resume(request: web.Request) -> web.Response:
        await queue_of(request).resume()
        return web.json_response({"paused": False})

    async def chart(request: web.Request) -> web.Response:
        query = parse_query(request, ChartQuery)
        queue = queue_of(request)
        minutes = await journal_for(queue).minutes(query.minutes)
        return web.json_response({"queue": queue.name, "minutes": minutes})

    async def schedules(request: web.Request) -> web.Response:
        return web.json_response({"schedules": await queue_of(request).schedules()})

    async def remove_schedule(request: web.Request) -> web.Response:
        schedule_id = request.match_info["schedule_id"]
        if not await queue_of(request).remove_schedule(schedule_id):
            raise NotFound("schedule", schedule_id)
        return web.json_response({"id": schedule_id, "removed": True})

    api = "/dashboard/api"
    app.router.add_get(f"{api}/status", one_at_a_time(status))
    app.router.add_get(f"{api}/jobs", one_at_a_time(jobs))
    app.router.add_get(f"{api}/failed", one_at_a_time(failed))
    app.router.add_get(f"{api}/jobs/{{job_id}}", one_at_a_time(job))
    app.router.add_post(f"{api}/jobs/{{job_id}}/retry", one_at_a_time(retry))
    app.router.add_post(f"{api}/jobs/{{job_id}}/promote", one_at_a_time(promote))
    app.router.add_delete(f"{api}/jobs/{{job_id}}", one_at_a_time(remove))
    app.router.add_get(f"{api}/error-classes", one_at_a_time(classes))
    app.router.add_post(f"{api}/retry-class", one_at_a_time(retry_class))
    app.router.add_post(f"{api}/clean", one_at_a_time(clean_up))
    app.router.add_post(f"{api}/pause", one_at_a_time(pause))
    app.router.add_post(f"{api}/resume", one_at_a_time(resume))
    app.router.add_get(f"{api}/chart", one_at_a_time(chart))
    app.router.add_get(f"{api}/schedules", one_at_a_time(schedules))
    app.router.add_delete(f"{api}/schedules/{{schedule_id}}", one_at_a_time(remove_schedule))


def _job_id(request: web.Request) -> str:
    job_id = request.match_info["job_id"]
    if len(job_id.encode()) > MAX_ID:
        raise NotFound("job", job_id[:40] + "...")
    return job_id
