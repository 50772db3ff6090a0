"""OpenAPI 3.1 generated from the pydantic models that validate requests.

Handlers are annotated with `@operation(...)`; `add_openapi(app, title)` serves the
document at /openapi.json and Swagger UI over it at /docs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from shared.http.docs_viewer import add_docs_viewer
from shared.http.examples import example
from shared.http.openapi_links import Link, render_links

REF = "#/components/schemas/{model}"
PROBLEM_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
    "required": ["type", "title", "status"],
}


@dataclass(frozen=True)
class Operation:
    summary: str
    body: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    status: int = 200
    auth: bool = True
    idempotent: bool | Literal["required"] = False
    errors: tuple[int, ...] = ()
    links: tuple[Link, ...] = ()


def operation(summary: str, **kwargs: Any) -> Callable[[Any], Any]:
    """Describe a handler for the OpenAPI document."""

    def decorate(handler: Any) -> Any:
        handler.__openapi__ = Operation(summary, **kwargs)
        return handler

    return decorate


def build_document(app: web.Application, title: str, version: str = "1.0.0") -> dict[str, Any]:
    ops: list[tuple[str, str, Operation]] = []
    for route in app.router.routes():
        op = getattr(route.handler, "__openapi__", None)
        # aiohttp adds a HEAD route beside every GET: not an operation of its own.
        if op is not None and route.resource is not None and route.method != "HEAD":
            ops.append((route.resource.canonical, route.method.lower(), op))
    # Query models join the others so their nested models land in components too.
    models = {m for _, _, op in ops for m in (op.body, op.response, op.query) if m is not None}
    refs, definitions = models_json_schema(
        [(m, "validation") for m in sorted(models, key=lambda m: m.__name__)],
        ref_template=REF,
    )
    schemas = dict(definitions.get("$defs", {}))
    schemas["Problem"] = PROBLEM_SCHEMA
    paths: dict[str, dict[str, Any]] = {}
    known = {(path, method) for path, method, _ in ops}
    for path, method, op in sorted(ops, key=lambda o: (o[0], o[1])):
        doc = _operation(path, op, refs, schemas)
        if op.links:
            source = f"{method.upper()} {path}"
            doc["responses"][str(op.status)]["links"] = render_links(source, op.links, known)
        paths.setdefault(path, {})[method] = doc
    return {
        "openapi": "3.1.0",
        "info": {"title": title, "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
    }


def _operation(
    path: str, op: Operation, refs: dict[Any, Any], schemas: dict[str, Any]
) -> dict[str, Any]:
    params: list[dict[str, Any]] = [
        {"name": seg[1:-1], "in": "path", "required": True, "schema": {"type": "string"}}
        for seg in path.split("/")
        if seg.startswith("{")
    ]
    if op.query is not None:
        # Its properties' $refs point into components (a schema of its own would use $defs).
        schema = schemas[refs[(op.query, "validation")]["$ref"].rsplit("/", 1)[-1]]
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": name in required,
                    "schema": prop,
                    "example": example(prop, schemas),
                }
            )
    if op.idempotent:
        params.append(
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": op.idempotent == "required",
                "schema": {"type": "string", "maxLength": 255},
            }
        )
    problem = {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}
    responses: dict[str, Any] = {str(op.status): {"description": "success"}}
    if op.response is not None:
        schema = refs[(op.response, "validation")]
        responses[str(op.status)]["content"] = {
            "application/json": {"schema": schema, "example": example(schema, schemas)}
        }
    # Every operation may answer 400 (malformed input) and 503 (a dependency is down, or a
    # transient database error); one that validates a body or a query answers 422 for data
    # its model refuses, one with a body 413 for a body over the size limit, and one with an
    # Idempotency-Key 409 while a request with the same key is in flight.
    codes = (
        {*op.errors, 400, 503}
        | ({401, 403} if op.auth else set())
        | ({422} if op.body or op.query else set())
        | ({413} if op.body else set())
        | ({409} if op.idempotent else set())
    )
    for code in sorted(codes):
        responses[str(code)] = {"description": "problem", "content": problem}
    retry_after = {
        "Retry-After": {
            "description": "seconds to wait before sending the request again",
            "schema": {"type": "integer", "minimum": 1},
        }
    }
    responses["503"]["headers"] = retry_after
    if op.idempotent:
        responses["409"]["headers"] = retry_after
    doc: dict[str, Any] = {"summary": op.summary, "parameters": params, "responses": responses}
    if op.body is not None:
        schema = refs[(op.body, "validation")]
        doc["requestBody"] = {
            "required": True,
            "content": {
                "application/json": {"schema": schema, "example": example(schema, schemas)}
            },
        }
    if op.auth:
        doc["security"] = [{"bearer": []}]
    return doc


def add_openapi(app: web.Application, title: str) -> None:
    """GET /openapi.json, and /docs: a viewer of it (shared.http.docs_viewer)."""
    # Built on the first request, once every route is added; kept out of the app's state,
    # which must not change after start-up.
    cache: dict[str, dict[str, Any]] = {}

    def built() -> dict[str, Any]:
        if "document" not in cache:
            cache["document"] = build_document(app, title)
        return cache["document"]

    async def document(request: web.Request) -> web.Response:
        return web.json_response(built())

    app.router.add_get("/openapi.json", document)
    add_docs_viewer(app, title, built)
