"""What checkout_api is called and where it keeps its data."""

from __future__ import annotations

SERVICE = "checkout_api"  # the process, in logs, metrics and /healthz
SCHEMA = "checkout"  # the PostgreSQL schema the checkout context owns
SOURCE = SERVICE  # the CloudEvents `source` of the events it records
