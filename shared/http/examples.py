"""An example value for a JSON Schema, for the OpenAPI document's request and response bodies.

A schema's own `examples` (pydantic `Field(examples=...)` or `json_schema_extra`) win; the rest
is built from types, formats and bounds, so every operation shows a body that its own schema
accepts (tests/unit/foundation/test_openapi_examples.py validates each one).
"""

from __future__ import annotations

from typing import Any

FORMATS = {
    "uuid": "3f0c7a4e-6a1b-4c2d-9e8f-0a1b2c3d4e5f",
    "date-time": "2030-01-07T09:00:00+01:00",
    "date": "2030-01-07",
    "time": "09:00:00",
    "email": "alice@example.com",
    "uri": "https://example.com/",
    "duration": "PT30M",
}
NO_EXAMPLE = object()


def example(schema: dict[str, Any], components: dict[str, Any], depth: int = 0) -> Any:
    """A value valid against `schema`; `$ref`s point into `components` (#/components/schemas)."""
    if depth > 8:  # a recursive model: stop the tree here
        return None
    if "$ref" in schema:
        name = str(schema["$ref"]).rsplit("/", 1)[-1]
        return example(components[name], components, depth + 1)
    for key in ("examples", "enum"):
        if schema.get(key):
            return schema[key][0]
    for key in ("example", "const", "default"):
        if schema.get(key, NO_EXAMPLE) not in (NO_EXAMPLE, None):
            return schema[key]
    for key in ("anyOf", "oneOf"):
        if key in schema:
            options = [s for s in schema[key] if s.get("type") != "null"] or schema[key]
            return example(options[0], components, depth + 1)
    if "allOf" in schema:
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged |= example(part, components, depth + 1) or {}
        return merged
    kind = schema.get("type", "object")
    if kind == "object":
        return {
            name: example(prop, components, depth + 1)
            for name, prop in schema.get("properties", {}).items()
        }
    if kind == "array":
        item = example(schema.get("items", {}), components, depth + 1)
        return [item] * max(1, schema.get("minItems", 1))
    if kind in ("integer", "number"):
        return _number(schema, kind)
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if schema.get("format") in FORMATS:
        return FORMATS[schema["format"]]
    text = "example"
    return (text * (1 + schema.get("minLength", 0) // len(text)))[: schema.get("maxLength", 64)]


def _number(schema: dict[str, Any], kind: str) -> int | float:
    low = schema.get(
        "minimum", schema.get("exclusiveMinimum", 0) + (1 if kind == "integer" else 0.5)
    )
    value = max(low, 1)
    if "maximum" in schema:
        value = min(value, schema["maximum"])
    if "exclusiveMaximum" in schema:
        value = min(value, schema["exclusiveMaximum"] - 1)
    if "multipleOf" in schema:
        value = schema["multipleOf"] * max(1, round(value / schema["multipleOf"]))
    return int(value) if kind == "integer" else value
