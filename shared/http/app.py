"""aiohttp application factory: health, readiness, metrics, problem+json, request context."""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import ValidationError

from shared.config import Settings
from shared.errors import Problem, ServiceUnavailable, Unauthorized
from shared.events.envelope import Trace
from shared.http.validation import text_problem
from shared.logging import bound_context, get_logger, new_correlation_id
from shared.metrics import DEPENDENCY_UP, http_meters
from shared.storage.pool import is_refused_input, is_transient, is_unavailable

log = get_logger(__name__)

ReadinessCheck = Callable[[], Awaitable[object]]
RequestHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", str)
READINESS = web.AppKey("readiness", dict[str, ReadinessCheck])

PROBLEM_JSON = "application/problem+json"
READINESS_TIMEOUT = 2.0


def problem_response(problem: Problem, request: web.Request) -> web.Response:
    headers = {}
    # A 503, or a 409 of a request still in flight, tells the client when to try again.
    retry_after = getattr(problem, "retry_after", None)
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return web.Response(
        status=problem.status,
        text=json.dumps(problem.to_dict(instance=request.path)),
        content_type=PROBLEM_JSON,
        headers=headers,
    )


def _problem_from_http_exception(exc: web.HTTPException) -> Problem:
    if exc.status == 404:
        return Problem(404, "no such resource")
    if exc.status == 405:
        return Problem(405, f"method not allowed; allowed: {exc.headers.get('Allow', '')}")
    if exc.status == 413:
        return Problem(413, "request body is too large")
    return Problem(exc.status, exc.reason)


def _refuse_unstorable_parameters(request: web.Request) -> None:
    """400 for a path or query parameter no database could store (a NUL, a lone surrogate),
    whether or not the handler validates it through a model; 401 for such a token."""
    for where, params in (("path", request.match_info), ("query", request.query)):
        for name, value in params.items():
            problem = text_problem(name) or text_problem(value)
            if problem is not None:
                raise Problem(400, f"the {where} parameter {name!r} {problem}")
    # Header bytes that are not UTF-8 arrive as lone surrogates, which no token can hold.
    if text_problem(request.headers.get("Authorization", "")) is not None:
        raise Unauthorized("the token is invalid")


@web.middleware
async def problem_middleware(request: web.Request, handler: RequestHandler) -> web.StreamResponse:
    """Turn every failure into problem+json; never let a stack trace reach the client."""
    try:
        _refuse_unstorable_parameters(request)
        return await handler(request)
    except Problem as problem:
        if problem.status >= 500:
            log.warning("request failed", status=problem.status, detail=problem.detail)
        return problem_response(problem, request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        response = problem_response(_problem_from_http_exception(exc), request)
        if "Allow" in exc.headers:
            response.headers["Allow"] = exc.headers["Allow"]
        return response
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False, include_input=False)
        return problem_response(Problem(422, "request is invalid", errors=errors), request)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        if is_unavailable(exc):
            log.warning("database unavailable", error=repr(exc))
            return problem_response(ServiceUnavailable("the database is unavailable"), request)
        if is_transient(exc):
            # Lost a race with another transaction (or met a read-only server): the same
            # request sent again can succeed, so it is not the client's fault nor a bug.
            log.warning("transient database error", error=repr(exc))
            detail = "the database could not complete the request now; retry it"
            return problem_response(ServiceUnavailable(detail), request)
        if is_refused_input(exc):
            # The edge validates what it can store; this is the net behind it, logged so that
            # the validation it missed can be added.
            log.warning("the database refused a value of the request", error=repr(exc))
            detail = "the request holds a value that cannot be stored"
            return problem_response(Problem(400, detail), request)
        log.exception("unhandled error")
        return problem_response(Problem(500, "an internal error occurred"), request)


def _route_label(request: web.Request) -> str:
    route = request.match_info.route
    if route.resource is None:
        return "unmatched"
    return route.resource.canonical


TRACE = web.RequestKey("trace", Trace)


def request_trace(request: web.Request) -> Trace:
    """The correlation id and traceparent of the request, for the events it causes."""
    return request.get(TRACE) or Trace()


# What a caller's correlation id and traceparent must look like to be kept: both travel into
# logs, the events the request causes and their messages, so anything else is replaced.
CORRELATION_ID = re.compile(r"[A-Za-z0-9._:/+=-]{1,128}")
TRACEPARENT = re.compile(r"[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}")


@web.middleware
async def context_middleware(request: web.Request, handler: RequestHandler) -> web.StreamResponse:
    """Bind a correlation id and a W3C traceparent to the request and every log line."""
    correlation_id = request.headers.get("X-Correlation-ID", "")
    if not CORRELATION_ID.fullmatch(correlation_id):
        correlation_id = new_correlation_id()
    traceparent = request.headers.get("traceparent", "")
    if not TRACEPARENT.fullmatch(traceparent):
        random = secrets.token_hex(24)  # a trace id (16 bytes) and a parent id (8 bytes)
        traceparent = f"00-{random[:32]}-{random[32:]}-01"
    request[TRACE] = Trace(correlation_id, traceparent)
    with bound_context(correlation_id=correlation_id, traceparent=traceparent):
        response = await handler(request)
    response.headers["X-Correlation-ID"] = correlation_id
    return response


@web.middleware
async def metrics_middleware(request: web.Request, handler: RequestHandler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    finally:
        requests, latency = http_meters(_route_label(request), request.method, str(status))
        requests.inc()
        latency.observe(time.perf_counter() - started)


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok", "service": request.app[SERVICE]})


async def _check(name: str, check: ReadinessCheck) -> tuple[str, str | None]:
    try:
        await asyncio.wait_for(check(), READINESS_TIMEOUT)
    except Exception as exc:
        DEPENDENCY_UP.labels(name).set(0)
        return name, f"{type(exc).__name__}: {exc}"
    DEPENDENCY_UP.labels(name).set(1)
    return name, None


async def readyz(request: web.Request) -> web.Response:
    checks = request.app[READINESS]
    results = await asyncio.gather(*(_check(n, c) for n, c in checks.items()))
    failed = {name: error for name, error in results if error is not None}
    status = {name: ("down: " + failed[name]) if name in failed else "up" for name in checks}
    if failed:
        raise ServiceUnavailable(
            "dependencies are not ready: " + ", ".join(sorted(failed)), checks=status
        )
    return web.json_response({"status": "ready", "checks": status})


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_base_app(service: str, settings: Settings, **kwargs: Any) -> web.Application:
    """An application with the suite's middlewares and its /healthz, /readyz, /metrics."""
    app = web.Application(
        middlewares=[context_middleware, metrics_middleware, problem_middleware],
        client_max_size=kwargs.pop("client_max_size", 1024 * 1024),
        **kwargs,
    )
    app[SERVICE] = service
    app[SETTINGS] = settings
    app[READINESS] = {}
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


def add_readiness_check(app: web.Application, name: str, check: ReadinessCheck) -> None:
    app[READINESS][name] = check


def run(app: web.Application, port: int) -> None:
    """Serve until SIGTERM/SIGINT, then close: stop accepting, finish requests, run cleanups.

    With `API_PROCESSES` above 1 the socket is bound with SO_REUSEPORT, so that many processes
    of one service listen on its port at once and the kernel spreads connections over them.
    Otherwise a second process on a taken port fails to start, as it should by mistake.
    """
    settings = app[SETTINGS]
    shared = settings.api_processes > 1
    log.info("listening", port=port, reuse_port=shared)
    web.run_app(
        app,
        host="0.0.0.0",
        port=port,
        reuse_port=shared,
        access_log=None,
        print=None,
        shutdown_timeout=settings.shutdown_grace,
        handle_signals=True,
    )
