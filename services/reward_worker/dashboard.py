"""The queue dashboard: counts per state, failed jobs with their error, retry and remove.

A single page (no build step) that polls the JSON routes below every two seconds.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from shared.errors import NotFound
from shared.workqueue import WorkQueue

PAGE = Path(__file__).with_name("dashboard.html")


def setup(app: web.Application, key: web.AppKey[WorkQueue]) -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE.read_text(), content_type="text/html")

    async def status(request: web.Request) -> web.Response:
        queue = request.app[key]
        return web.json_response({"queue": queue.name, "counts": await queue.status()})

    async def failed(request: web.Request) -> web.Response:
        limit = min(int(request.query.get("limit", "50")), 500)
        return web.json_response({"jobs": await request.app[key].failed(0, limit)})

    async def job(request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        found = await request.app[key].inspect(job_id)
        if found is None:
            raise NotFound("job", job_id)
        return web.json_response(found)

    async def retry(request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if not await request.app[key].retry_failed(job_id):
            raise NotFound("failed job", job_id)
        return web.json_response({"id": job_id, "state": "waiting"})

    async def remove(request: web.Request) -> web.Response:
        job_id = request.match_info["job_id"]
        if not await request.app[key].remove(job_id):
            raise NotFound("job", job_id)
        return web.json_response({"id": job_id, "removed": True})

    app.router.add_get("/dashboard", page)
    app.router.add_get("/dashboard/api/status", status)
    app.router.add_get("/dashboard/api/failed", failed)
    app.router.add_get("/dashboard/api/jobs/{job_id}", job)
    app.router.add_post("/dashboard/api/jobs/{job_id}/retry", retry)
    app.router.add_delete("/dashboard/api/jobs/{job_id}", remove)
