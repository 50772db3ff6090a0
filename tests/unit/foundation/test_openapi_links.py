"""The OpenAPI links of both APIs: each names an operation of its document, gives every path
parameter that operation needs, reads fields its source really answers (or was sent), and
fills only parameters and body fields its target really has."""

from __future__ import annotations

import importlib
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis.stateful import RULE_MARKER

from shared.config import Settings
from shared.http.openapi import build_document, operation
from shared.http.openapi_links import Link
from tools.services import SERVICES

APIS = [service for service in SERVICES if service.name.endswith("_api")]


def document(module: str) -> dict[str, Any]:
    settings = Settings(_env_file=None, jwt_secret="s" * 40)
    return build_document(importlib.import_module(f"{module}.app").create_app(settings), "t")


def resolve(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def field_exists(doc: dict[str, Any], schema: dict[str, Any], pointer: list[str]) -> bool:
    """Whether the JSON pointer names a field the schema declares (through $ref, anyOf and
    array items)."""
    schema = resolve(doc, schema)
    if not pointer:
        return True
    branches = schema.get("anyOf", []) + schema.get("oneOf", [])
    if branches:
        return any(field_exists(doc, branch, pointer) for branch in branches)
    head, rest = pointer[0], pointer[1:]
    if schema.get("type") == "array":
        return head.isdigit() and field_exists(doc, schema.get("items", {}), rest)
    properties = schema.get("properties", {})
    return head in properties and field_exists(doc, properties[head], rest)


def operation_at(doc: dict[str, Any], ref: str) -> dict[str, Any]:
    _, _, path, method = ref.split("/")
    return doc["paths"][path.replace("~1", "/").replace("~0", "~")][method]


def check_expression(
    doc: dict[str, Any], source: dict[str, Any], code: str, expr: str, where: str
) -> None:
    """An expression reads a field of the source's success answer or of the request it was
    sent."""
    if expr.startswith("$response.body#/"):
        schema = source["responses"][code]["content"]["application/json"]["schema"]
    elif expr.startswith("$request.body#/"):
        schema = source["requestBody"]["content"]["application/json"]["schema"]
    else:
        raise AssertionError(f"{where}: unexpected expression {expr!r}")
    pointer = expr.split("#/", 1)[1].split("/")
    assert field_exists(doc, schema, pointer), f"{where}: no field {expr}"


def check_body(doc: dict[str, Any], schema: dict[str, Any], value: Any, checks: list[str]) -> None:
    """Each field a link puts in the target's body is a field of its schema."""
    schema = resolve(doc, schema)
    if isinstance(value, str) and value.startswith("$"):
        checks.append(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            assert field_exists(doc, schema, [key]), f"no body field {key!r}"
            branches = [schema, *schema.get("anyOf", [])]
            props = next(resolve(doc, b)["properties"] for b in branches if "properties" in b)
            check_body(doc, props[key], item, checks)
    elif isinstance(value, list):
        items = next(
            resolve(doc, b)["items"]
            for b in [schema, *schema.get("anyOf", [])]
            if resolve(doc, b).get("type") == "array"
        )
        for item in value:
            check_body(doc, items, item, checks)


@pytest.mark.parametrize("service", APIS, ids=lambda s: s.name)
def test_every_link_names_a_real_operation_parameter_and_response_field(service: Any) -> None:
    doc = document(service.module)
    seen = 0
    for path, methods in doc["paths"].items():
        for method, source in methods.items():
            for code, response in source["responses"].items():
                for name, link in response.get("links", {}).items():
                    where = f"{method.upper()} {path} -> {name}"
                    assert code.startswith("2"), f"{where}: a link follows a success"
                    target = operation_at(doc, link["operationRef"])
                    params = {p["name"]: p for p in target["parameters"]}
                    given = link.get("parameters", {})
                    for param, expr in given.items():
                        assert param in params, f"{where}: the target has no {param!r}"
                        check_expression(doc, source, code, expr, where)
                    for param in params.values():
                        if param["in"] == "path":
                            assert param["name"] in given, f"{where}: {param['name']} not given"
                    if "requestBody" in link:
                        assert "requestBody" in target, f"{where}: the target takes no body"
                        schema = target["requestBody"]["content"]["application/json"]["schema"]
                        exprs: list[str] = []
                        check_body(doc, schema, link["requestBody"], exprs)
                        for expr in exprs:
                            check_expression(doc, source, code, expr, where)
                    seen += 1
    assert seen >= 10, f"{service.name} declares only {seen} links"


@pytest.mark.parametrize("service", APIS, ids=lambda s: s.name)
def test_schemathesis_turns_every_link_into_a_transition(service: Any) -> None:
    doc = document(service.module)
    schema = schemathesis.openapi.from_dict(doc)
    schema.config.phases.stateful.inference.algorithms = []
    machine = schema.as_state_machine()
    rules = [name for name, value in vars(machine).items() if hasattr(value, RULE_MARKER)]
    names = {
        name
        for methods in doc["paths"].values()
        for op in methods.values()
        for response in op["responses"].values()
        for name in response.get("links", {})
    }
    missing = [name for name in names if not any(f"_{name}__" in rule for rule in rules)]
    assert names and not missing, missing


def test_a_link_to_an_operation_the_app_lacks_is_refused() -> None:
    @operation("a thing", links=(Link("Next", "GET /nowhere", "no such route"),))
    async def thing(request: web.Request) -> web.Response:
        return web.Response()

    app = web.Application()
    app.router.add_get("/thing", thing)
    with pytest.raises(ValueError, match="targets unknown 'GET /nowhere'"):
        build_document(app, "t")


@pytest.mark.parametrize("service", APIS, ids=lambda s: s.name)
def test_the_document_with_its_links_is_valid_openapi_3_1(service: Any) -> None:
    from openapi_spec_validator import validate

    validate(document(service.module))
