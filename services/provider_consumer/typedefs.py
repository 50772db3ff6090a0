"""What provider_consumer is called and where it keeps its data."""

from __future__ import annotations

SERVICE = "provider_consumer"  # the process, in logs, metrics and /healthz
SCHEMA = "provider_inbox"  # the PostgreSQL schema of its read models
