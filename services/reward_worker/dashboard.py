"""The work-queue console at /dashboard: its guard and its page.

A single page (no build step) that polls the JSON routes (dashboard_api: lists, a job's
page, actions, the chart; dashboard_heal: owed work and dead letters) every two seconds. The page
is static; every JSON route needs an admin bearer token, which the page asks for once per
tab. Every request is refused (403) when its Host is not the service's own (DNS rebinding)
or when a browser says it comes from another origin (a page elsewhere posting a form or a
`text/plain` fetch to the dashboard).
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from aiohttp import web

from services.reward_worker import dashboard_api, dashboard_heal
from shared.errors import Forbidden, NotFound, Problem, ServiceUnavailable
from shared.http.app import SETTINGS, RequestHandler
from shared.http.auth import authenticate
from shared.logging import get_logger
from shared.workqueue import WorkQueue
from shared.workqueue.console import BROKER_ERRORS
from shared.workqueue.inspect import BadQuery

log = get_logger(__name__)

PAGE = Path(__file__).with_name("dashboard.html")
# The page's code, plain JavaScript.
SCRIPTS = {name: Path(__file__).with_name(f"{name}.js") for name in ("dashboard", "dashboard_heal")}
LOOPBACK = ("localhost", "127.0.0.1", "[::1]")
# Sec-Fetch-Site values of a request made by the dashboard's own page or typed by a person.
OWN_SITE = frozenset({"same-origin", "none"})
PAGE_HEADERS = {
    # No other page may frame the dashboard (a click on a hidden retry button).
    "Content-Security-Policy": "frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def own_port(request: web.Request) -> int | None:
    """The port this connection reached, whatever the Host header claims."""
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    return int(sockname[1]) if sockname and len(sockname) >= 2 else None


def allowed_host(host: str, port: int | None, allowed: list[str]) -> bool:
    """Loopback names with the service's own port, or a name of the allow-list (an entry
    `name` allows any port of that name, `name:port` that port only)."""
    host = host.strip().lower()
    if port is not None:
        loopback = {f"{name}:{port}" for name in LOOPBACK}
        if port == 80:
            loopback |= set(LOOPBACK)
        if host in loopback:
            return True
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return any(entry.strip().lower() in (host, name) for entry in allowed if entry.strip())


def check_request(request: web.Request) -> None:
    """403 unless the request names this service as its Host and comes from its own page, a
    typed address or a client that is not a browser (which sends neither header)."""
    settings = request.app[SETTINGS]
    host = request.headers.get("Host", "")
    if not allowed_host(host, own_port(request), settings.dashboard_allowed_hosts):
        raise Forbidden(
            "the dashboard answers only to its own host name (see DASHBOARD_ALLOWED_HOSTS)"
        )
    origin = request.headers.get("Origin")
    # The host part only: behind a proxy that ends TLS the scheme seen here is not the page's.
    if origin is not None and urlsplit(origin).netloc.lower() != host.strip().lower():
        raise Forbidden("the dashboard refuses requests from another origin")
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None and site not in OWN_SITE and not _navigation_to_page(request):
        raise Forbidden("the dashboard refuses requests from another site")


def _navigation_to_page(request: web.Request) -> bool:
    """A person following a link to the page: harmless, the page holds no data and no token
    (the token is asked for in the tab), and it cannot be framed."""
    return (
        request.method == "GET"
        and request.path == "/dashboard"
        and request.headers.get("Sec-Fetch-Mode") == "navigate"
        and request.headers.get("Sec-Fetch-Dest") == "document"
    )


def guarded(handler: RequestHandler, *, admin: bool = True) -> RequestHandler:
    """`handler` behind the host and origin checks and, for JSON routes, an admin token."""

    async def guard(request: web.Request) -> web.StreamResponse:
        check_request(request)
        if admin:
            authenticate(request, request.app[SETTINGS].jwt_secret, "admin")
        try:
            response = await handler(request)
        except BadQuery as exc:
            raise Problem(400, str(exc)) from None
        except BROKER_ERRORS as exc:
            log.warning("work queue unavailable", error=repr(exc), path=request.path)
            raise ServiceUnavailable("the work queue's broker does not answer") from None
        response.headers.setdefault("Cache-Control", "no-store")
        return response

    return guard


def setup(app: web.Application, key: web.AppKey[WorkQueue]) -> None:
    """Serve the dashboard page and its JSON routes on `app`, over the queue at `key`."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(text=PAGE.read_text(), content_type="text/html", headers=PAGE_HEADERS)

    async def script(request: web.Request) -> web.Response:
        path = SCRIPTS.get(request.match_info["name"])
        if path is None:
            raise NotFound("script", request.match_info["name"])
        return web.Response(
            text=path.read_text(), content_type="application/javascript", headers=PAGE_HEADERS
        )

    app.router.add_get("/dashboard", guarded(page, admin=False))
    app.router.add_get("/dashboard/{name}.js", guarded(script, admin=False))
    dashboard_api.add_routes(app, key, guarded)
    dashboard_heal.add_routes(app, key, guarded)
