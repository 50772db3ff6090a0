"""The README's table of events, rendered from their JSON Schemas in docs/events/.

`python -m tools.event_table` rewrites the table between its two markers in README.md (`make
export-events` runs it after writing the schemas); a test keeps README and schemas equal.
Each row: the event type (linked to its schema), its schema version and its payload's fields
with their types; `?` marks a field that may be absent or null.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tools.services import ROOT

EVENTS = ROOT / "docs" / "events"
README = ROOT / "README.md"
START = "<!-- event-table:start: rendered from docs/events/ by `make export-events` -->"
END = "<!-- event-table:end -->"


def type_name(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " or ".join(type_name(p) for p in prop["anyOf"] if p.get("type") != "null")
    if "enum" in prop:
        return " / ".join(f"`{value}`" for value in prop["enum"])
    if prop.get("type") == "array":
        return f"list of {type_name(prop.get('items', {}))}"
    return str(prop.get("format") or prop.get("type") or "any")


def fields(schema: dict[str, Any]) -> str:
    required = set(schema.get("required", []))
    return ", ".join(
        f"`{name}{'' if name in required else '?'}` {type_name(prop)}"
        for name, prop in schema.get("properties", {}).items()
    )


def render(directory: Path = EVENTS) -> str:
    """The table, with its markers."""
    rows = ["| event | v | payload |", "| --- | ---: | --- |"]
    for path in sorted(directory.glob("*.schema.json")):
        schema = json.loads(path.read_text())
        event = schema.get("x-event-type")
        if event is None:  # the envelope, linked below the table
            continue
        link = f"[`{event}`](docs/events/{path.name})"
        rows.append(f"| {link} | {schema.get('x-schema-version', 1)} | {fields(schema)} |")
    return "\n".join([START, *rows, END])


def rewrite(readme: Path = README, directory: Path = EVENTS) -> bool:
    """Put the current table in `readme`; True when it changed."""
    text = readme.read_text()
    if START not in text or END not in text:
        raise SystemExit(f"{readme.name} has no event table markers ({START} ... {END})")
    before, rest = text.split(START, 1)
    after = rest.split(END, 1)[1]
    updated = before + render(directory) + after
    readme.write_text(updated)
    return updated != text


if __name__ == "__main__":
    changed = rewrite()
    print("README.md event table " + ("updated" if changed else "already current"))
    sys.exit(0)
