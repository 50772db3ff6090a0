"""The migration plan (pure: files only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from shared.storage.migrations import SHARED_SQL, plan


def _write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, sql in files.items():
        (directory / name).write_text(sql)
    return directory


def test_shared_migrations_come_first_then_the_service_files_in_version_order(
    tmp_path: Path,
) -> None:
    service = _write(
        tmp_path / "m",
        {
            "0010_later.sql": "SELECT 10;",
            "0002_second.sql": "SELECT 2;",
            "0001_first.sql": "SELECT 1;",
        },
    )
    versions = [m.version for m in plan("svc", service, prefix="svc/")]
    shared = [f"shared/{p.stem}" for p in sorted(SHARED_SQL.glob("*.sql"))]
    assert versions == [*shared, "svc/0001_first", "svc/0002_second", "svc/0010_later"]


def test_schema_placeholder_is_replaced_everywhere(tmp_path: Path) -> None:
    service = _write(
        tmp_path / "m",
        {"0001_t.sql": "CREATE TABLE {schema}.t (id int);\nCREATE INDEX ON {schema}.t (id);"},
    )
    migrations = plan("booking", service)
    assert migrations[-1].sql == (
        "CREATE TABLE booking.t (id int);\nCREATE INDEX ON booking.t (id);"
    )
    assert all("{schema}" not in m.sql for m in migrations)
    assert "booking.outbox" in next(m.sql for m in migrations if "outbox" in m.version)


def test_checksum_follows_the_content(tmp_path: Path) -> None:
    service = _write(tmp_path / "m", {"0001_t.sql": "SELECT 1;"})
    first = plan("s", service)[-1].checksum
    (service / "0001_t.sql").write_text("SELECT 2;")
    assert plan("s", service)[-1].checksum != first


@pytest.mark.parametrize(
    "name", ["1_init.sql", "0001-init.sql", "0001_Init.sql", "init.sql", "00001_x.sql"]
)
def test_badly_named_migration_files_are_refused(tmp_path: Path, name: str) -> None:
    service = _write(tmp_path / "m", {"0001_ok.sql": "SELECT 1;", name: "SELECT 2;"})
    with pytest.raises(ValueError, match=r"0001_name\.sql"):
        plan("s", service)


def test_two_files_with_one_version_number_are_refused(tmp_path: Path) -> None:
    service = _write(tmp_path / "m", {"0001_a.sql": "SELECT 1;", "0001_b.sql": "SELECT 2;"})
    with pytest.raises(ValueError, match="0001"):
        plan("s", service)


def test_files_that_are_not_sql_are_ignored(tmp_path: Path) -> None:
    service = _write(tmp_path / "m", {"0001_a.sql": "SELECT 1;", "README.md": "notes"})
    assert plan("s", service)[-1].version == "0001_a"


def test_a_missing_service_directory_means_shared_migrations_only(tmp_path: Path) -> None:
    assert [m.version for m in plan("s", tmp_path / "absent")] == [
        m.version for m in plan("s", None)
    ]


@pytest.mark.parametrize("schema", ["", "Booking", "1abc", "a-b", "a;drop", "x" * 64, 'a"b'])
def test_invalid_schema_names_are_refused(schema: str) -> None:
    with pytest.raises(ValueError, match="schema"):
        plan(schema, None)
