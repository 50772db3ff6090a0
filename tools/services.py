"""The five processes of the suite: module, port setting and database schema of each."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from shared.config import Settings

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    schema: str  # the database schema of its bounded context
    port_setting: str

    @property
    def module(self) -> str:
        return f"services.{self.name}"

    @property
    def migrations(self) -> Path:
        return ROOT / "services" / self.name / "migrations"

    def port(self, settings: Settings) -> int:
        return int(getattr(settings, self.port_setting))


SERVICES = [
    ServiceInfo("booking_api", "booking", "booking_api_port"),
    ServiceInfo("checkout_api", "checkout", "checkout_api_port"),
    ServiceInfo("provider_consumer", "provider_inbox", "provider_consumer_port"),
    ServiceInfo("notification_consumer", "notifications", "notification_consumer_port"),
    # The reward worker is the background half of the checkout context: it shares its schema
    # and migrates after checkout_api.
    ServiceInfo("reward_worker", "checkout", "reward_worker_port"),
]
