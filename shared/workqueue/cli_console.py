"""The console's commands in `python -m shared.workqueue.cli`: the same reads and actions as
the dashboard, printed as JSON.

    list STATE [--limit N] [--cursor C] [--id ID | --field PATH --value V]
    history JOB_ID              a job's data, attempts and events
    error-classes               failed jobs per error class
    retry-class NAME            retry every failed job of one error class
    clean STATE --older-than S  delete completed or failed jobs older than S seconds
    chart [--minutes N]         per-minute counters (throughput, run time)

Work owed by PostgreSQL is the reward worker's to tell: `python -m services.reward_worker.owed`.
"""

from __future__ import annotations

import argparse
from typing import Any

from shared.workqueue.base import STATES, WorkQueue
from shared.workqueue.console import clean, error_classes, retry_error_class
from shared.workqueue.history import journal_for
from shared.workqueue.inspect import BadQuery, Search, job_page, list_jobs

COMMANDS = frozenset({"list", "history", "error-classes", "retry-class", "clean", "chart"})


def add_commands(commands: Any) -> None:
    """Add the console's subcommands to the CLI's subparsers."""
    listing = commands.add_parser("list", help="jobs of one state, a page at a time")
    listing.add_argument("state", choices=STATES)
    listing.add_argument("--limit", type=int, default=50)
    listing.add_argument("--cursor", help="the cursor a previous page printed")
    listing.add_argument("--id", dest="job_id", help="only this job id")
    listing.add_argument("--field", help="a payload field (dotted path), with --value")
    listing.add_argument("--value")
    commands.add_parser("history", help="a job's data, attempts and events").add_argument("job_id")
    commands.add_parser("error-classes", help="failed jobs per error class")
    retry = commands.add_parser("retry-class", help="retry every failed job of an error class")
    retry.add_argument("error_class", help="the exception's name, e.g. ConnectionRefusedError")
    cleaning = commands.add_parser("clean", help="delete completed or failed jobs by age")
    cleaning.add_argument("state", choices=("completed", "failed"))
    cleaning.add_argument("--older-than", type=float, required=True, help="seconds")
    chart = commands.add_parser("chart", help="per-minute counters of the last minutes")
    chart.add_argument("--minutes", type=int, default=60)


async def execute(queue: WorkQueue, args: argparse.Namespace) -> tuple[int, Any]:
    """Run one console command; (exit status, JSON-able result). Bad input exits 2."""
    try:
        return await _execute(queue, args)
    except BadQuery as exc:
        return 2, {"error": str(exc)}


async def _execute(queue: WorkQueue, args: argparse.Namespace) -> tuple[int, Any]:
    command = args.command
    if command == "list":
        search = Search(job_id=args.job_id, field=args.field, value=args.value)
        page = await list_jobs(
            queue, args.state, limit=args.limit, cursor=args.cursor, search=search
        )
        return 0, page.to_dict()
    if command == "history":
        found = await job_page(queue, args.job_id)
        return (0, found) if found else (1, {"error": f"no job {args.job_id}"})
    if command == "error-classes":
        return 0, await error_classes(queue)
    if command == "retry-class":
        return 0, {"retried": await retry_error_class(queue, args.error_class)}
    if command == "clean":
        return 0, {"removed": await clean(queue, args.state, args.older_than)}
    if command == "chart":
        return 0, await journal_for(queue).minutes(max(1, min(args.minutes, 120)))
    raise AssertionError(command)
