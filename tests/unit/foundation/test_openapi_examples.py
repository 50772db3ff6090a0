"""Every operation of every service's OpenAPI document shows examples (request body, success
response, query parameters), and each example is valid against the schema beside it."""

from __future__ import annotations

import importlib
from typing import Any

import jsonschema
import pytest

from shared.config import Settings
from shared.http.examples import example
from shared.http.openapi import build_document
from tools.services import SERVICES


def documents() -> list[tuple[str, dict[str, Any]]]:
    settings = Settings(_env_file=None, jwt_secret="s" * 40)
    built = []
    for service in SERVICES:
        app = importlib.import_module(f"{service.module}.app").create_app(settings)
        built.append((service.name, build_document(app, service.name)))
    return built


def check(document: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    root = {**schema, "components": document["components"]}
    errors = list(jsonschema.Draft202012Validator(root).iter_errors(value))
    assert not errors, f"{where}: example {value!r} is refused: {errors[0].message}"


@pytest.mark.parametrize(
    ("name", "document"), documents(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_every_operation_has_examples_its_schemas_accept(
    name: str, document: dict[str, Any]
) -> None:
    bodies = 0
    for path, methods in document["paths"].items():
        for method, op in methods.items():
            where = f"{name} {method.upper()} {path}"
            media = op.get("requestBody", {}).get("content", {}).get("application/json")
            if media is not None:
                check(document, media["schema"], media["example"], where + " body")
                bodies += 1
            for code, response in op["responses"].items():
                media = response.get("content", {}).get("application/json")
                if code.startswith("2") and media is not None:
                    check(document, media["schema"], media["example"], where + f" {code}")
                    bodies += 1
            for parameter in op["parameters"]:
                if parameter["in"] == "query":
                    check(document, parameter["schema"], parameter["example"], where)
    assert bodies or not name.endswith("_api")


def test_a_schema_example_wins_over_a_generated_value() -> None:
    schema = {"type": "string", "format": "uuid", "examples": ["prov-1"]}
    assert example(schema, {}) == "prov-1"
    bounded = {"type": "integer", "minimum": 5, "maximum": 200}
    assert example(bounded, {}) == 5
    listed = {"type": "array", "items": {"$ref": "#/components/schemas/Line"}, "minItems": 2}
    line = {"type": "object", "properties": {"qty": {"type": "integer", "exclusiveMinimum": 0}}}
    assert example(listed, {"Line": line}) == [{"qty": 1}, {"qty": 1}]
