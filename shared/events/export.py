"""Export the JSON Schema of the envelope and of every event payload to docs/events/.

python -m shared.events.export [directory]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from shared.events import REGISTRY, Envelope


def export(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    schemas = {"envelope": Envelope.model_json_schema()}
    for type_ in REGISTRY.types():
        schema = REGISTRY.model(type_).model_json_schema()
        schema["x-event-type"] = type_
        schema["x-schema-version"] = REGISTRY.version(type_)
        schemas[type_] = schema
    for name, schema in schemas.items():
        path = directory / f"{name}.schema.json"
        path.write_text(json.dumps(schema, indent=2, sort_keys=True) + "\n")
        written.append(path)
    return written


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else Path("docs/events")
    for path in export(target):
        print(path)
