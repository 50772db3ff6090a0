"""How one received message is handled: routed by its `eventType`, checked against its
envelope, run with its trace in every log line, and retried in place while the failure is
transient. The outcome (True: handled; False: leave it to SQS's redelivery) is the
consumer's to act on (see shared.messaging.consumer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping

from pydantic import ValidationError

from shared.events.envelope import Envelope
from shared.logging import bound_context, get_logger
from shared.messaging.consumer_metrics import FAILED, HANDLED, LATENCY, TRANSIENT
from shared.messaging.visibility import InFlight
from shared.retry import backoff_delay
from shared.storage.pool import is_transient, is_unavailable

log = get_logger(__name__)

EventHandler = Callable[[Envelope], Awaitable[None]]
EventHandlers = Mapping[str, EventHandler]
ATTRIBUTE_OF = {"correlation_id": "correlationId", "traceparent": "traceparent"}
# Runs of a handler, in one receive, that a transient database error may cost before the
# message is left to SQS's redelivery (a lost race usually succeeds on the next run).
TRANSIENT_ATTEMPTS = 5


class Handling:
    """Runs the handlers of one queue. `healthy` is cleared while the database is out of
    reach (the poller then takes one message at a time) and set by the next success."""

    def __init__(
        self,
        queue: str,
        handlers: EventHandlers,
        healthy: asyncio.Event,
        transient_timeout: float = 300.0,
        deadlines: Mapping[str, float] | None = None,
    ) -> None:
        self.queue = queue
        self.handlers = dict(handlers)
        self._healthy = healthy
        self.transient_timeout = transient_timeout
        self.deadlines = dict(deadlines or {})  # seconds per event type, "*" for the others

    async def process(self, message: InFlight) -> bool:
        """Handle the message; True when it may be deleted."""
        event_type = message.attributes.get("eventType", "")
        with bound_context(
            correlation_id=message.attributes.get("correlationId"),
            traceparent=message.attributes.get("traceparent"),
            message_id=message.message_id,
            event_type=event_type or None,
            receive_count=message.receive_count,
        ):
            handler = self.handlers.get(event_type)
            if handler is None:
                return self._failed(event_type, "unknown_type", "no handler for this event type")
            try:
                envelope = Envelope.model_validate_json(message.body)
            except ValidationError as exc:
                return self._failed(event_type, "malformed", f"body is not an envelope: {exc}")
            if envelope.type != event_type:
                # Routed by the attribute, applied by the body: a message whose two disagree is
                # forged or broken, and no handler may apply a body of another type.
                detail = f"eventType attribute disagrees with the envelope type {envelope.type!r}"
                return self._failed(event_type, "type_mismatch", detail)
            # The envelope carries the same context when a publisher left the attributes out.
            fallback = {
                "correlation_id": envelope.correlationid,
                "traceparent": envelope.traceparent,
            }
            missing = {
                key: value
                for key, value in fallback.items()
                if not message.attributes.get(ATTRIBUTE_OF[key])
            }
            with bound_context(event_id=str(envelope.id), **missing):
                return await self._call(handler, envelope, event_type)

    async def _call(self, handler: EventHandler, envelope: Envelope, event_type: str) -> bool:
        started = time.monotonic()
        attempt = 0
        deadline = self.deadlines.get(event_type, self.deadlines.get("*"))
        while True:
            try:
                async with asyncio.timeout(deadline) as scope:
                    await handler(envelope)
            except asyncio.CancelledError:
                raise
            except TimeoutError as exc:
                if not scope.expired():  # the handler's own timeout: an ordinary failure
                    log.error("handler failed", error=repr(exc), exc_info=exc)
                    return self._failed(event_type, "error", repr(exc))
                # Cancelled at its next await; released with backoff like a failure.
                return self._failed(event_type, "deadline", f"ran past its {deadline:g} s deadline")
            except Exception as exc:
                waited = time.monotonic() - started
                if is_unavailable(exc) and waited < self.transient_timeout:
                    self._healthy.clear()
                    TRANSIENT.labels(self.queue).inc()
                    delay = backoff_delay(attempt, base=0.2, cap=5.0)
                    attempt += 1
                    log.warning("database unavailable, retrying", error=repr(exc), retry_in=delay)
                    await asyncio.sleep(delay)
                    continue
                if is_transient(exc) and attempt < TRANSIENT_ATTEMPTS - 1:
                    TRANSIENT.labels(self.queue).inc()
                    delay = backoff_delay(attempt, base=0.05, cap=1.0)
                    attempt += 1
                    log.warning("transient database error, retrying", error=repr(exc))
                    await asyncio.sleep(delay)
                    continue
                log.error("handler failed", error=repr(exc), exc_info=exc)
                return self._failed(event_type, "error", repr(exc))
            self._healthy.set()
            HANDLED.labels(self.queue, event_type).inc()
            LATENCY.labels(self.queue, event_type).observe(time.monotonic() - started)
            return True

    def _failed(self, event_type: str, reason: str, detail: str) -> bool:
        FAILED.labels(self.queue, event_type or "none", reason).inc()
        log.error("message not handled; left to the redrive policy", reason=reason, detail=detail)
        return False
