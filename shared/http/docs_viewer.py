"""/docs: Swagger UI over the service's /openapi.json, served from the swagger-ui-bundle-v2
package's own files (no CDN, nothing fetched from outside at run time).

"Authorize" takes a bearer token (`make token SUB=alice ROLE=user`); every "Try it out" request
then carries it as `Authorization: Bearer <token>`, as the document's security scheme says. A
page without JavaScript lists the operations instead.
"""

from __future__ import annotations

import html
import mimetypes
from collections.abc import Callable
from typing import Any

from aiohttp import web
from swagger_ui_bundle import swagger_ui_path

# The bundle's version is in the path: a new one gets new URLs, so browsers may cache forever.
ASSETS = f"/docs/assets/{swagger_ui_path.name}"
SERVED = ("swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png")
# Swagger UI styles elements inline and shows images as data: URLs; scripts are only ours.
POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; frame-ancestors 'none'"
)
INITIALIZER = """\
window.addEventListener("load", function () {
  window.ui = SwaggerUIBundle({
    url: "/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    tryItOutEnabled: true,
    displayRequestDuration: true,
    validatorUrl: null,
    presets: [SwaggerUIBundle.presets.apis],
  });
});
"""


def add_docs_viewer(
    app: web.Application, title: str, document: Callable[[], dict[str, Any]]
) -> None:
    """GET /docs and its assets; `document()` is the OpenAPI document (for the fallback list)."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(
            text=render_page(title, document()),
            content_type="text/html",
            headers={"Content-Security-Policy": POLICY, "Cache-Control": "no-cache"},
        )

    async def initializer(request: web.Request) -> web.Response:
        return web.Response(text=INITIALIZER, content_type="text/javascript", headers=CACHED)

    async def asset(request: web.Request) -> web.StreamResponse:
        name = request.match_info["name"]
        if name not in SERVED:  # never a path into the package, only the files named here
            raise web.HTTPNotFound()
        content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
        body = (swagger_ui_path / name).read_bytes()
        return web.Response(body=body, content_type=content_type, headers=CACHED)

    app.router.add_get("/docs", page)
    app.router.add_get(f"{ASSETS}/suite-docs.js", initializer)
    app.router.add_get(ASSETS + "/{name}", asset)


CACHED = {"Cache-Control": "public, max-age=31536000, immutable"}


def render_page(title: str, document: dict[str, Any]) -> str:
    e = html.escape
    operations = "".join(
        f"<li><code>{e(method.upper())} {e(path)}</code> {e(op.get('summary', ''))}</li>"
        for path, methods in document.get("paths", {}).items()
        for method, op in methods.items()
    )
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{e(title)}</title>"
        f"<link rel='stylesheet' href='{ASSETS}/swagger-ui.css'>"
        f"<link rel='icon' type='image/png' href='{ASSETS}/favicon-32x32.png'>"
        "</head><body><div id='swagger-ui'></div>"
        f"<noscript><h1>{e(title)}</h1><p>The document: <a href='/openapi.json'>/openapi.json"
        f"</a></p><ul>{operations}</ul></noscript>"
        f"<script src='{ASSETS}/swagger-ui-bundle.js'></script>"
        f"<script src='{ASSETS}/suite-docs.js'></script>"
        "</body></html>"
    )
