"""The OpenAPI 3.1 document built from the handlers' @operation descriptions."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from aiohttp import web
from pydantic import BaseModel, Field

from shared.config import Settings
from shared.http.app import create_base_app
from shared.http.openapi import build_document, operation


class Colour(StrEnum):
    red = "red"
    blue = "blue"


class Address(BaseModel):
    street: str


class WidgetIn(BaseModel):
    name: str = Field(min_length=1)
    colour: Colour
    address: Address | None = None


class Widget(BaseModel):
    id: str
    name: str
    colour: Colour


class WidgetQuery(BaseModel):
    colour: Colour | None = None
    limit: int = Field(default=10, ge=1, le=100)
    owner: str


@operation("Create a widget", body=WidgetIn, response=Widget, status=201, idempotent=True)
async def create_widget(request: web.Request) -> web.Response:
    raise NotImplementedError


@operation("List widgets", query=WidgetQuery, response=Widget, auth=False)
async def list_widgets(request: web.Request) -> web.Response:
    raise NotImplementedError


@operation("One widget", response=Widget, errors=(404,))
async def get_widget(request: web.Request) -> web.Response:
    raise NotImplementedError


async def undocumented(request: web.Request) -> web.Response:
    raise NotImplementedError


def _document() -> dict[str, Any]:
    app = create_base_app("widgets", Settings(_env_file=None))
    app.router.add_post("/owners/{owner_id}/widgets", create_widget)
    app.router.add_get("/widgets", list_widgets)
    app.router.add_get("/widgets/{widget_id}", get_widget)
    app.router.add_get("/internal", undocumented)
    return build_document(app, "Widgets", "2.0.0")


def _resolve(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    assert ref.startswith("#/components/schemas/"), ref
    name = ref.rsplit("/", 1)[-1]
    assert name in doc["components"]["schemas"], f"{ref} does not resolve"
    schema: dict[str, Any] = doc["components"]["schemas"][name]
    return schema


def _refs(node: Any) -> list[str]:
    if isinstance(node, dict):
        found = [node["$ref"]] if isinstance(node.get("$ref"), str) else []
        return found + [r for value in node.values() for r in _refs(value)]
    if isinstance(node, list):
        return [r for value in node for r in _refs(value)]
    return []


def test_document_is_openapi_3_1_with_the_documented_paths_only() -> None:
    doc = _document()
    assert doc["openapi"] == "3.1.0"
    assert doc["info"] == {"title": "Widgets", "version": "2.0.0"}
    assert doc["paths"].keys() == {"/owners/{owner_id}/widgets", "/widgets", "/widgets/{widget_id}"}
    assert doc["paths"]["/owners/{owner_id}/widgets"].keys() == {"post"}
    # aiohttp adds a HEAD route next to every GET; it is not an operation of its own
    assert doc["paths"]["/widgets"].keys() == {"get"}


def test_every_ref_resolves_in_components() -> None:
    doc = _document()
    refs = _refs(doc)
    assert refs
    for ref in refs:
        _resolve(doc, ref)


def test_request_body_refers_to_its_model() -> None:
    doc = _document()
    post = doc["paths"]["/owners/{owner_id}/widgets"]["post"]
    assert post["requestBody"]["required"] is True
    schema = _resolve(doc, post["requestBody"]["content"]["application/json"]["schema"]["$ref"])
    assert set(schema["required"]) == {"name", "colour"}
    created = post["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert _resolve(doc, created)["properties"]["id"]["type"] == "string"
    assert {"400", "401", "403", "422", "503"} <= post["responses"].keys()
    assert post["security"] == [{"bearer": []}]


def test_path_query_and_header_parameters_are_described() -> None:
    doc = _document()
    post = doc["paths"]["/owners/{owner_id}/widgets"]["post"]
    params = {(p["name"], p["in"]): p for p in post["parameters"]}
    assert params[("owner_id", "path")]["required"] is True
    assert params[("Idempotency-Key", "header")]["required"] is False
    listed = doc["paths"]["/widgets"]["get"]
    query = {p["name"]: p for p in listed["parameters"] if p["in"] == "query"}
    assert query.keys() == {"colour", "limit", "owner"}
    assert query["owner"]["required"] is True
    assert query["limit"]["required"] is False
    assert query["limit"]["schema"]["maximum"] == 100
    assert "security" not in listed
    assert "401" not in listed["responses"]


def test_declared_errors_are_problem_responses() -> None:
    doc = _document()
    get = doc["paths"]["/widgets/{widget_id}"]["get"]
    problem = get["responses"]["404"]["content"]["application/problem+json"]["schema"]
    assert _resolve(doc, problem["$ref"])["required"] == ["type", "title", "status"]
    assert doc["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"


def test_document_validates_against_the_openapi_3_1_schema() -> None:
    from openapi_spec_validator import validate

    validate(_document())
