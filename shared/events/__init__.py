"""Events: the envelope, the registry, and the payloads every context publishes."""

from shared.events import booking, checkout  # noqa: F401  (registers the event types)
from shared.events.envelope import REGISTRY, Envelope, Payload, event_type, make_envelope

__all__ = ["REGISTRY", "Envelope", "Payload", "event_type", "make_envelope"]
