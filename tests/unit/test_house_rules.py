"""The rules of the house, read off the code: layers, pure domains, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("shared", "services", "tools")
MAX_LINES = 300
# What a domain module may import besides the standard library: events and errors, no I/O.
DOMAIN_MAY_IMPORT = ("shared.events", "shared.errors", "pydantic")
TRANSPORTS = ("aiohttp", "asyncpg", "aioboto3", "aiobotocore", "botocore", "redis", "aio_pika")


def modules() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def service_of(path: Path) -> str | None:
    parts = path.relative_to(ROOT).parts
    return parts[1] if parts[0] == "services" and len(parts) > 2 else None


@pytest.mark.parametrize("path", modules(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_is_over_300_lines(path: Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_LINES, f"{lines} lines: split it by concern"


def test_shared_never_imports_a_service() -> None:
    offenders = {
        str(p.relative_to(ROOT)): sorted(n for n in imports(p) if n.startswith("services"))
        for p in (ROOT / "shared").rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_services_never_import_each_other() -> None:
    offenders = {}
    for path in (ROOT / "services").rglob("*.py"):
        own = service_of(path)
        others = [
            name
            for name in imports(path)
            if name.startswith("services.") and name.split(".")[1] != own
        ]
        if others:
            offenders[str(path.relative_to(ROOT))] = others
    assert offenders == {}


@pytest.mark.parametrize(
    "path", sorted((ROOT / "services").glob("*/domain.py")), ids=lambda p: p.parent.name
)
def test_domain_modules_do_no_io(path: Path) -> None:
    foreign = {
        name
        for name in imports(path)
        if name.split(".")[0] in {*TRANSPORTS, "shared", "services"}
        and not name.startswith(DOMAIN_MAY_IMPORT)
        and not name.startswith(f"services.{path.parent.name}.domain")
    }
    assert foreign == set()
