"""What notification_consumer is called and where it keeps its data."""

from __future__ import annotations

SERVICE = "notification_consumer"  # the process, in logs, metrics and /healthz
SCHEMA = "notifications"  # the PostgreSQL schema of its read models
