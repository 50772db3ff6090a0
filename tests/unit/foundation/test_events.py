"""The event envelope, the registry of event types and the JSON Schema export."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import ValidationError

from shared.events import REGISTRY, Envelope, Payload, make_envelope
from shared.events.booking import BookingConfirmed, BookingCreated
from shared.events.checkout import RewardCredit, RewardsDistributed
from shared.events.envelope import EventRegistry, Trace
from shared.events.export import export


def _booking_created() -> BookingCreated:
    start = datetime(2030, 1, 2, 9, 0, tzinfo=UTC)
    return BookingCreated(
        booking_id=uuid.uuid4(),
        slot_id=uuid.uuid4(),
        user_id="user-1",
        provider_id="provider-1",
        starts_at=start,
        ends_at=start + timedelta(hours=1),
        notes="window seat",
        expires_at=start - timedelta(days=1),
    )


def test_envelope_uses_cloudevents_names_and_the_trace_it_is_given() -> None:
    payload = _booking_created()
    envelope = make_envelope(
        payload,
        source="booking_api",
        subject=str(payload.booking_id),
        trace=Trace("corr-1", "00-abc-def-01", "cause-1"),
    )
    assert envelope.specversion == "1.0"
    assert envelope.type == "BOOKING_CREATED"
    assert envelope.source == "booking_api"
    assert envelope.subject == str(payload.booking_id)
    assert envelope.datacontenttype == "application/json"
    assert envelope.correlationid == "corr-1"
    assert envelope.traceparent == "00-abc-def-01"
    assert envelope.causationid == "cause-1"
    assert envelope.schemaversion == 1
    assert envelope.time.tzinfo is not None
    assert isinstance(envelope.id, uuid.UUID)


def test_envelope_without_a_trace_has_no_correlation() -> None:
    payload = _booking_created()
    envelope = make_envelope(payload, source="s", subject="x", trace=Trace())
    assert envelope.correlationid is None
    assert envelope.traceparent is None
    assert envelope.causationid is None


def test_an_event_caused_by_another_carries_its_correlation_and_cause() -> None:
    cause = make_envelope(_booking_created(), source="s", subject="x", trace=Trace("c-9", "tp"))
    effect = make_envelope(
        _booking_created(), source="s", subject="y", trace=Trace.following(cause)
    )
    assert (effect.correlationid, effect.traceparent) == ("c-9", "tp")
    assert effect.causationid == str(cause.id)


def test_each_envelope_has_its_own_id() -> None:
    payload = _booking_created()
    ids = {make_envelope(payload, source="s", subject="x").id for _ in "ab"}
    assert len(ids) == 2


def test_payload_survives_a_json_round_trip() -> None:
    payload = _booking_created()
    envelope = make_envelope(payload, source="s", subject="x")
    travelled = Envelope.model_validate_json(envelope.model_dump_json())
    assert travelled == envelope
    assert travelled.payload() == payload
    assert isinstance(travelled.payload(), BookingCreated)


def test_nested_payload_survives_a_json_round_trip() -> None:
    payload = RewardsDistributed(
        transaction_id=uuid.uuid4(),
        buyer_id="c-1",
        total=1000,
        credits=[RewardCredit(customer_id="c-0", depth=1, points=50)],
    )
    envelope = make_envelope(payload, source="s", subject="c-1")
    assert Envelope.model_validate(json.loads(envelope.model_dump_json())).payload() == payload


def test_the_event_type_is_the_one_of_the_payload_class() -> None:
    envelope = make_envelope(_booking_created(), source="s", subject="x")
    assert envelope.type == "BOOKING_CREATED"
    assert REGISTRY.type_of(BookingCreated) == "BOOKING_CREATED"


def test_an_unregistered_payload_class_is_refused() -> None:
    class Unregistered(Payload):
        value: int

    with pytest.raises(KeyError, match="Unregistered"):
        make_envelope(Unregistered(value=1), source="s", subject="x")
    with pytest.raises(KeyError):
        REGISTRY.model("NO_SUCH_EVENT")


def test_data_that_does_not_fit_the_payload_is_rejected() -> None:
    envelope = Envelope(type="BOOKING_CONFIRMED", source="s", subject="x", data={"oops": 1})
    with pytest.raises(ValidationError):
        envelope.payload()


def test_payloads_are_frozen_and_strict() -> None:
    payload = _booking_created()
    with pytest.raises(ValidationError):
        payload.notes = "changed"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        BookingConfirmed.model_validate({**payload.model_dump(), "unexpected": True})


def test_a_type_cannot_be_registered_for_two_models() -> None:
    registry = EventRegistry()

    class First(Payload):
        a: int

    class Second(Payload):
        a: int

    registry.register("THING_HAPPENED", First, version=2)
    registry.register("THING_HAPPENED", First, version=2)  # the same model again is harmless
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("THING_HAPPENED", Second)
    assert registry.types() == ["THING_HAPPENED"]
    assert registry.version("THING_HAPPENED") == 2
    assert "THING_HAPPENED" in registry


def test_the_contract_event_types_are_registered() -> None:
    expected = {
        "BOOKING_CREATED",
        "BOOKING_CONFIRMED",
        "BOOKING_REJECTED",
        "BOOKING_CANCELLED",
        "BOOKING_EXPIRED",
        "REWARDS_DISTRIBUTED",
        "LEVEL_UPGRADED",
    }
    assert expected <= set(REGISTRY.types())


def test_export_writes_a_schema_per_registered_type(tmp_path: Path) -> None:
    written = export(tmp_path / "events")
    names = {path.name for path in written}
    assert names == {f"{t}.schema.json" for t in REGISTRY.types()} | {"envelope.schema.json"}
    for type_ in REGISTRY.types():
        schema = json.loads((tmp_path / "events" / f"{type_}.schema.json").read_text())
        assert schema["x-event-type"] == type_
        assert schema["x-schema-version"] == REGISTRY.version(type_)
        assert schema["type"] == "object"
        assert set(schema["required"]) <= set(schema["properties"])
    envelope = json.loads((tmp_path / "events" / "envelope.schema.json").read_text())
    assert {"id", "type", "source", "subject", "time", "specversion", "data"} <= set(
        envelope["properties"]
    )
