"""The CLI's flow and schedule commands on both backends, as JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.config import Settings
from shared.workqueue import WorkQueue
from shared.workqueue.cli import run


@pytest.fixture
def cli(queue_settings: Settings, capsys: pytest.CaptureFixture[str]) -> Any:
    async def call(*argv: str) -> tuple[int, Any]:
        code = await run(["--json", *argv], queue_settings)
        return code, json.loads(capsys.readouterr().out)

    return call


async def test_pause_resume_and_promote_from_the_cli(queue: WorkQueue, cli: Any) -> None:
    assert (await cli("status"))[1]["paused"] is False
    assert await cli("pause") == (0, {"queue": queue.name, "paused": True})
    assert await queue.is_paused() is True
    assert (await cli("status"))[1]["paused"] is True
    assert await cli("resume") == (0, {"queue": queue.name, "paused": False})
    assert await queue.is_paused() is False

    await queue.enqueue("later", {}, job_id="soon", delay=3600)
    assert await cli("promote", "soon") == (0, {"promoted": "soon"})
    assert (await queue.status())["waiting"] == 1
    assert (await cli("promote", "soon"))[0] == 1


async def test_schedules_are_added_listed_and_removed_from_the_cli(
    queue: WorkQueue, cli: Any
) -> None:
    code, added = await cli(
        "schedules", "add", "nightly", "report", "--cron", "0 3 * * *", "--payload", '{"k": 1}'
    )
    assert code == 0 and added["id"] == "nightly" and added["next_at"] % 86400 == 3 * 3600
    code, _ = await cli("schedules", "add", "poll", "fetch", "--every", "30", "--priority", "2")
    assert code == 0
    code, listed = await cli("schedules", "list")
    assert [(s["id"], s["payload"], s["priority"]) for s in listed] == [
        ("nightly", {"k": 1}, 0),
        ("poll", {}, 2),
    ]
    assert await cli("schedules", "remove", "poll") == (0, {"removed": "poll"})
    assert (await cli("schedules", "remove", "poll"))[0] == 1
    code, refused = await cli("schedules", "add", "bad", "t", "--cron", "whenever")
    assert code == 2 and "not a cron expression" in refused["error"]
    assert (await cli("schedules", "add", "bad", "t", "--every", "5", "--payload", "[1]"))[0] == 2
    assert [s["id"] for s in await queue.schedules()] == ["nightly"]
