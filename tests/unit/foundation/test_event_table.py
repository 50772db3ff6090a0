"""The README's event table is the rendering of docs/events/: every event, its version and its
payload's fields, so the README never drifts from the schemas."""

from __future__ import annotations

import json
from pathlib import Path

from tools.event_table import END, EVENTS, README, START, render, rewrite


def test_the_readme_table_is_the_rendering_of_the_schemas() -> None:
    text = README.read_text()
    table = text[text.index(START) : text.index(END) + len(END)]
    assert table == render(), "README.md's event table is stale: run `make export-events`"


def test_every_event_schema_has_its_row_with_every_field() -> None:
    table = render()
    for path in EVENTS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        if "x-event-type" in schema:
            (row,) = [r for r in table.splitlines() if f"[`{schema['x-event-type']}`]" in r]
            for name in schema["properties"]:
                assert f"`{name}" in row, (schema["x-event-type"], name)


def test_rewrite_replaces_only_the_table(tmp_path: Path) -> None:
    events = tmp_path / "events"
    events.mkdir()
    (events / "THING_DONE.schema.json").write_text(
        json.dumps(
            {
                "x-event-type": "THING_DONE",
                "x-schema-version": 2,
                "properties": {"id": {"type": "string", "format": "uuid"}, "note": {}},
                "required": ["id"],
            }
        )
    )
    readme = tmp_path / "README.md"
    readme.write_text(f"before\n{START}\nold\n{END}\nafter\n")
    assert rewrite(readme, events) is True
    assert readme.read_text() == (
        f"before\n{START}\n| event | v | payload |\n| --- | ---: | --- |\n"
        "| [`THING_DONE`](docs/events/THING_DONE.schema.json) | 2 | `id` uuid, `note?` any |\n"
        f"{END}\nafter\n"
    )
    assert rewrite(readme, events) is False
