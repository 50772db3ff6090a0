"""Operate a work queue: `python -m shared.workqueue.cli status|failed|inspect|retry|...`.

Reads the same settings as the services (WORK_QUEUE_BACKEND, WORK_QUEUE_NAME, REDIS_URL,
AMQP_URL) and prints JSON. Exit status 1 when the job asked for does not exist.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from shared.config import Settings
from shared.logging import configure_logging
from shared.workqueue import WorkQueue, cli_console, cli_flow, open_work_queue


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m shared.workqueue.cli", description=__doc__)
    p.add_argument("--queue", help="queue name (default: WORK_QUEUE_NAME)")
    p.add_argument("--json", action="store_true", help="print JSON (the only output format)")
    commands = p.add_subparsers(dest="command", required=True)
    commands.add_parser("status", help="job counts by state")
    failed = commands.add_parser("failed", help="failed jobs, newest first")
    failed.add_argument("--limit", type=int, default=20)
    for name, text in (
        ("inspect", "a job's data, error and attempt history"),
        ("retry", "run a failed job again with fresh attempts"),
        ("remove", "delete a job"),
    ):
        commands.add_parser(name, help=text).add_argument("job_id")
    commands.add_parser("retry-all", help="run every failed job again")
    commands.add_parser("purge-completed", help="delete completed jobs")
    cli_console.add_commands(commands)
    cli_flow.add_commands(commands)
    return p


async def execute(queue: WorkQueue, args: argparse.Namespace) -> tuple[int, Any]:
    """Run one command; return (exit status, JSON-able result)."""
    if args.command in cli_console.COMMANDS:
        return await cli_console.execute(queue, args)
    if args.command in cli_flow.COMMANDS:
        return await cli_flow.execute(queue, args)
    if args.command == "status":
        counts = await queue.status()
        return 0, {
            "queue": queue.name,
            "backend": queue.backend,
            **counts,
            "paused": await queue.is_paused(),
        }
    if args.command == "failed":
        return 0, await queue.failed(0, args.limit)
    if args.command == "inspect":
        job = await queue.inspect(args.job_id)
        return (0, job) if job else (1, {"error": f"no job {args.job_id}"})
    if args.command == "retry":
        if await queue.retry_failed(args.job_id):
            return 0, {"retried": args.job_id}
        return 1, {"error": f"no failed job {args.job_id}"}
    if args.command == "retry-all":
        return 0, {"retried": await queue.retry_all_failed()}
    if args.command == "remove":
        if await queue.remove(args.job_id):
            return 0, {"removed": args.job_id}
        return 1, {"error": f"no job {args.job_id}"}
    if args.command == "purge-completed":
        return 0, {"purged": await queue.purge_completed()}
    raise AssertionError(args.command)


async def run(argv: list[str], settings: Settings | None = None) -> int:
    args = parser().parse_args(argv)
    settings = settings or Settings()
    async with open_work_queue(settings, name=args.queue) as queue:
        code, result = await execute(queue, args)
    json.dump(result, sys.stdout, indent=2, default=str)
    sys.stdout.write("\n")
    return code


def main() -> None:
    settings = Settings()
    # Logs go to stderr, so stdout holds only the JSON result a script reads.
    configure_logging("workqueue-cli", settings.log_level, json=settings.log_json)
    sys.exit(asyncio.run(run(sys.argv[1:], settings)))


if __name__ == "__main__":
    main()
