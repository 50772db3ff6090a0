"""What booking_api is called and where it keeps its data."""

from __future__ import annotations

SERVICE = "booking_api"  # the process, in logs, metrics and /healthz
SCHEMA = "booking"  # the PostgreSQL schema the booking context owns
SOURCE = SERVICE  # the CloudEvents `source` of the events it records
