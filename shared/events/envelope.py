"""The one event envelope (CloudEvents 1.0 attribute names) and the registry of event types."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Payload(BaseModel):
    """Base of every event payload: immutable, strict about unknown fields."""

    model_config = ConfigDict(frozen=True, extra="forbid")


class Envelope(BaseModel):
    """An event as it is stored and as it travels."""

    model_config = ConfigDict(frozen=True)

    specversion: str = "1.0"
    id: uuid.UUID = Field(default_factory=uuid.uuid4)
    type: str
    source: str
    subject: str
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = "application/json"
    schemaversion: int = 1
    correlationid: str | None = None
    causationid: str | None = None
    traceparent: str | None = None
    data: dict[str, Any]

    def payload(self) -> Payload:
        """The data parsed into its registered payload model."""
        return REGISTRY.model(self.type).model_validate(self.data)


class EventRegistry:
    def __init__(self) -> None:
        self._models: dict[str, type[Payload]] = {}
        self._versions: dict[str, int] = {}

    def register(self, type_: str, model: type[Payload], version: int = 1) -> None:
        existing = self._models.get(type_)
        if existing is not None and existing is not model:
            raise ValueError(f"event type {type_} is registered twice")
        self._models[type_] = model
        self._versions[type_] = version

    def model(self, type_: str) -> type[Payload]:
        try:
            return self._models[type_]
        except KeyError:
            raise KeyError(f"unknown event type {type_!r}") from None

    def type_of(self, model: type[Payload]) -> str:
        """The event type a payload class is registered under."""
        for type_, registered in self._models.items():
            if registered is model:
                return type_
        raise KeyError(f"{model.__name__} is not a registered event payload")

    def version(self, type_: str) -> int:
        return self._versions[type_]

    def types(self) -> list[str]:
        return sorted(self._models)

    def __contains__(self, type_: object) -> bool:
        return type_ in self._models


REGISTRY = EventRegistry()


def event_type(name: str, version: int = 1) -> Any:
    """Class decorator registering a payload model under an event type name."""

    def decorate(model: type[Payload]) -> type[Payload]:
        REGISTRY.register(name, model, version)
        return model

    return decorate


@dataclass(frozen=True)
class Trace:
    """What caused an event: the correlation id and W3C traceparent of the request or message
    it answers, and the id of the event that caused it (if one did)."""

    correlation_id: str | None = None
    traceparent: str | None = None
    causation_id: str | None = None

    @classmethod
    def following(cls, cause: Envelope) -> Trace:
        """The trace of an event caused by handling `cause`."""
        return cls(cause.correlationid, cause.traceparent, str(cause.id))


def make_envelope(
    payload: Payload,
    *,
    source: str,
    subject: str,
    trace: Trace = Trace(),
) -> Envelope:
    """Wrap a payload; its event type is the one its class is registered under, its
    correlation the `trace` it is given (none by default: nothing is read from context)."""
    registered = REGISTRY.type_of(type(payload))
    return Envelope(
        type=registered,
        source=source,
        subject=subject,
        schemaversion=REGISTRY.version(registered),
        correlationid=trace.correlation_id,
        causationid=trace.causation_id,
        traceparent=trace.traceparent,
        data=payload.model_dump(mode="json"),
    )
