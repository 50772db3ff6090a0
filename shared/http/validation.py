"""Request parsing through pydantic models: 400 for malformed JSON, 422 for invalid data."""

from __future__ import annotations

import json
import uuid
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from shared.errors import NotFound, Problem

M = TypeVar("M", bound=BaseModel)


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise Problem(400, "a JSON request body is required")
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise Problem(400, "the request body is not valid JSON") from None


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Validate the JSON body against `model` (422 problem+json with the field errors)."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise Problem(422, "the request body must be a JSON object")
    return model.model_validate(data)


def parse_query(request: web.Request, model: type[M]) -> M:
    return model.model_validate(dict(request.query))


def path_uuid(request: web.Request, name: str, what: str) -> uuid.UUID:
    """A UUID path parameter; a malformed one cannot exist, so it is a 404."""
    raw = request.match_info[name]
    try:
        return uuid.UUID(raw)
    except ValueError:
        raise NotFound(what, raw) from None


def json_response(model: BaseModel | list[Any] | dict[str, Any], status: int = 200) -> web.Response:
    if isinstance(model, BaseModel):
        return web.json_response(text=model.model_dump_json(), status=status)
    return web.json_response(model, status=status, dumps=_dumps)


def _dumps(value: Any) -> str:
    return json.dumps(value, default=str)
