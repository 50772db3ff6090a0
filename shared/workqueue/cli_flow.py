"""Flow control and schedules in `python -m shared.workqueue.cli`, printed as JSON.

pause                       workers stop taking jobs (running ones finish)
resume                      workers take jobs again
promote JOB_ID              run a delayed job (or a retry waiting out its backoff) now
schedules list              every schedule with its next tick
schedules add ID TYPE (--cron EXPR | --every SECONDS) [--payload JSON] [--priority N]
schedules remove ID
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from shared.workqueue.base import WorkQueue
from shared.workqueue.schedules import Schedule

COMMANDS = frozenset({"pause", "resume", "promote", "schedules"})


def add_commands(commands: Any) -> None:
    """Add the flow and schedule subcommands to the CLI's subparsers."""
    commands.add_parser("pause", help="workers stop taking jobs; running ones finish")
    commands.add_parser("resume", help="workers take jobs again")
    commands.add_parser("promote", help="run a delayed job now").add_argument("job_id")
    schedules = commands.add_parser("schedules", help="repeatable jobs")
    actions = schedules.add_subparsers(dest="action", required=True)
    actions.add_parser("list", help="every schedule with its next tick")
    add = actions.add_parser("add", help="add a schedule, or replace the one with its id")
    add.add_argument("schedule_id")
    add.add_argument("job_type")
    when = add.add_mutually_exclusive_group(required=True)
    when.add_argument("--cron", help="5 fields, or 6 with seconds last; UTC")
    when.add_argument("--every", type=float, help="seconds, anchored to the Unix epoch")
    add.add_argument("--payload", default="{}", help="the job's payload, a JSON object")
    add.add_argument("--priority", type=int, default=0)
    actions.add_parser("remove", help="delete a schedule").add_argument("schedule_id")


async def execute(queue: WorkQueue, args: argparse.Namespace) -> tuple[int, Any]:
    """Run one command; (exit status, JSON-able result). Bad input exits 2."""
    if args.command == "pause":
        await queue.pause()
        return 0, {"queue": queue.name, "paused": True}
    if args.command == "resume":
        await queue.resume()
        return 0, {"queue": queue.name, "paused": False}
    if args.command == "promote":
        if await queue.promote(args.job_id):
            return 0, {"promoted": args.job_id}
        return 1, {"error": f"no delayed job {args.job_id}"}
    if args.action == "list":
        return 0, await queue.schedules()
    if args.action == "remove":
        if await queue.remove_schedule(args.schedule_id):
            return 0, {"removed": args.schedule_id}
        return 1, {"error": f"no schedule {args.schedule_id}"}
    try:
        payload = json.loads(args.payload)
        if not isinstance(payload, dict):
            raise ValueError("the payload must be a JSON object")
        schedule = Schedule(
            args.schedule_id, args.job_type, payload, args.cron, args.every, args.priority
        )
    except ValueError as exc:
        return 2, {"error": str(exc)}
    await queue.add_schedule(schedule)
    listed = {s["id"]: s for s in await queue.schedules()}
    return 0, listed.get(schedule.id, schedule.to_dict())
