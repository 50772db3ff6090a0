"""Operational commands of the suite.

python -m tools migrate            create the database if needed and migrate every schema
python -m tools provision-queues   create the SQS queues and their dead-letter queues
python -m tools seed               load demo data (idempotent)
python -m tools token SUB ROLE     print a signed JWT for local use
python -m tools export-events      write every event JSON Schema to docs/events/
python -m tools run                start the whole local stack (what `make run` does)
python -m tools env                write .env with fresh secrets unless it exists

Unless JWT_SECRET is set in the environment, each command first writes `.env` with fresh
random secrets when there is none (never over an existing one), so a new checkout works.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from pathlib import Path

from shared.config import Settings
from shared.logging import configure_logging
from tools.envfile import ensure_env_file


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("migrate")
    sub.add_parser("provision-queues")
    sub.add_parser("seed")
    token = sub.add_parser("token")
    token.add_argument("sub")
    token.add_argument("role", choices=["user", "provider", "customer", "admin"])
    token.add_argument("--ttl", type=float, default=24 * 3600)
    sub.add_parser("export-events")
    sub.add_parser("run")
    sub.add_parser("env")
    args = parser.parse_args(argv)
    # Settings read .env from the working directory: that is where it belongs.
    try:
        written = "JWT_SECRET" not in os.environ and ensure_env_file(Path(".env"))
    except OSError as exc:  # e.g. a read-only image: the settings then say what is missing
        print(f"warning: could not write .env: {exc.strerror}", file=sys.stderr)
        written = False
    if written:
        print("wrote .env with fresh secrets", file=sys.stderr)
    if args.command == "env":
        return 0
    settings = Settings()
    configure_logging("tools", settings.log_level, json=settings.log_json)

    from tools import commands

    if args.command == "migrate":
        asyncio.run(commands.migrate_all(settings))
    elif args.command == "provision-queues":
        asyncio.run(commands.provision(settings))
    elif args.command == "seed":
        asyncio.run(commands.seed(settings))
    elif args.command == "token":
        from shared.http.auth import mint_token

        print(mint_token(settings.jwt_secret, args.sub, args.role, ttl=args.ttl))
    elif args.command == "export-events":
        from shared.events.export import export

        for path in export(Path("docs/events")):
            print(path)
    elif args.command == "run":
        from tools.stack import run_stack

        return run_stack(settings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
