"""Request parsing through pydantic models: 400 for malformed JSON, 422 for invalid data.

Beyond each model's rules, every value a request carries must be one PostgreSQL can store,
or the database would refuse it later with a 500: no NUL character or lone surrogate in a
string (PostgreSQL's text refuses them), integers within 64 bits (bigint), finite numbers,
datetimes that stay in range once converted to UTC, and JSON nested at most MAX_DEPTH deep.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from pydantic import BaseModel

from shared.errors import NotFound, Problem

M = TypeVar("M", bound=BaseModel)

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
MAX_DEPTH = 32
Loc = tuple[str | int, ...]


def text_problem(value: str) -> str | None:
    """Why PostgreSQL could not store `value` as text, or None when it can."""
    if "\x00" in value:
        return "must not contain a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode (no lone surrogates)"
    return None


def _children(value: Any, loc: Loc) -> Iterator[tuple[Any, Loc]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, (*loc, str(key))  # the key itself is stored (jsonb) as well
            yield item, (*loc, str(key))
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield item, (*loc, index)
    elif isinstance(value, BaseModel):
        for name, item in value:
            yield item, (*loc, name)


def _value_problem(value: Any) -> str | None:
    if isinstance(value, str):
        return text_problem(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int) and not INT64_MIN <= value <= INT64_MAX:
        return "must fit in a 64-bit integer"
    if isinstance(value, float) and not math.isfinite(value):
        return "must be a finite number"
    if isinstance(value, datetime) and value.tzinfo is not None:
        try:
            value.astimezone(UTC)
        except OverflowError:
            return "is out of range once converted to UTC"
    return None


def unstorable(value: Any, loc: Loc = ()) -> list[dict[str, Any]]:
    """Errors (in pydantic's shape) for every part of `value` the database could not store."""
    errors: list[dict[str, Any]] = []
    pending: list[tuple[Any, Loc]] = [(value, loc)]
    while pending:  # iterative: a hostile document must not exhaust the stack
        item, where = pending.pop()
        if len(where) - len(loc) > MAX_DEPTH:
            errors.append({"loc": list(where), "msg": "is nested too deeply", "type": "depth"})
            continue
        problem = _value_problem(item)
        if problem is not None:
            errors.append({"loc": list(where), "msg": problem, "type": "unstorable"})
        pending.extend(_children(item, where))
    return errors


def refuse_unstorable(value: Any, loc: Loc = ()) -> None:
    """Raise 422 naming each part of `value` that could not be stored."""
    errors = unstorable(value, loc)
    if errors:
        raise Problem(422, "request is invalid", errors=errors)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


async def read_json(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        raise Problem(400, "a JSON request body is required")
    try:
        data = json.loads(raw, parse_constant=_refuse_constant)
    except RecursionError:
        raise Problem(400, "the request body is nested too deeply") from None
    # ValueError covers malformed JSON, NaN and Infinity, and integers of over 4300 digits.
    except (ValueError, UnicodeDecodeError):
        raise Problem(400, "the request body is not valid JSON") from None
    refuse_unstorable(data)
    return data


async def parse_body(request: web.Request, model: type[M]) -> M:
    """Validate the JSON body against `model` (422 problem+json with the field errors)."""
    data = await read_json(request)
    if not isinstance(data, dict):
        raise Problem(422, "the request body must be a JSON object")
    parsed = model.model_validate(data)
    refuse_unstorable(parsed)  # e.g. a datetime whose offset takes it out of range
    return parsed


async def parse_optional_body(request: web.Request, model: type[M]) -> M:
    """Like `parse_body`, but an empty body (or only whitespace) is the model's defaults."""
    if not (await request.read()).strip():
        return model()
    return await parse_body(request, model)


def parse_query(request: web.Request, model: type[M]) -> M:
    """Validate the query parameters against `model` (422 problem+json with the errors)."""
    raw = dict(request.query)
    refuse_unstorable(raw)
    parsed = model.model_validate(raw)
    refuse_unstorable(parsed)  # e.g. ?before= past 64 bits
    return parsed


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
