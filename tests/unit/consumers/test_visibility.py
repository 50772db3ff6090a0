"""What real SQS (and the local server) answers to stale receipt handles: MessageNotInflight."""

from __future__ import annotations

import time
from typing import Any

from botocore.exceptions import ClientError

from shared.messaging.visibility import Deleter, Heartbeat, InFlight, release


def message(n: int, *, due_in: float = 0.5) -> InFlight:
    return InFlight(
        message_id=f"m{n}",
        receipt_handle=f"h{n}",
        body="{}",
        attributes={},
        receive_count=1,
        sent_at=None,
        visible_until=time.monotonic() + due_in,
    )


def client_error(code: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": code}}, operation)


class FakeSqs:
    """Answers batch calls like SQS would; `refuse` maps receipt handles to error codes."""

    def __init__(self) -> None:
        self.refuse: dict[str, str] = {}
        self.raise_next: list[ClientError] = []
        self.calls: list[tuple[str, list[str]]] = []

    def _answer(self, name: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
        self.calls.append((name, [e["ReceiptHandle"] for e in entries]))
        if self.raise_next:
            raise self.raise_next.pop(0)
        ok = [{"Id": e["Id"]} for e in entries if e["ReceiptHandle"] not in self.refuse]
        failed = [
            {"Id": e["Id"], "Code": self.refuse[e["ReceiptHandle"]], "SenderFault": True}
            for e in entries
            if e["ReceiptHandle"] in self.refuse
        ]
        return {"Successful": ok, "Failed": failed}

    async def change_message_visibility_batch(self, QueueUrl: str, Entries: Any) -> Any:
        return self._answer("change", Entries)

    async def delete_message_batch(self, QueueUrl: str, Entries: Any) -> Any:
        return self._answer("delete", Entries)


async def test_heartbeat_stops_extending_a_message_sqs_says_is_no_longer_in_flight() -> None:
    sqs = FakeSqs()
    kept, gone = message(1), message(2)
    inflight = {m.receipt_handle: m for m in (kept, gone)}
    heartbeat = Heartbeat(sqs, "url", "q", inflight, visibility_timeout=30)
    sqs.refuse["h2"] = "AWS.SimpleQueueService.MessageNotInflight"

    await heartbeat.beat()
    assert kept.visible_until > time.monotonic() + 25
    assert gone.lost and not kept.lost

    kept.visible_until = time.monotonic()
    await heartbeat.beat()
    assert sqs.calls[-1] == ("change", ["h1"])  # the lost message is left alone


async def test_heartbeat_leaves_messages_far_from_their_timeout_alone() -> None:
    sqs = FakeSqs()
    inflight = {"h1": message(1, due_in=25)}
    await Heartbeat(sqs, "url", "q", inflight, visibility_timeout=30).beat()
    assert sqs.calls == []


async def test_a_stale_receipt_handle_on_delete_is_not_retried_but_a_server_error_is() -> None:
    sqs = FakeSqs()
    sqs.refuse["h1"] = "ReceiptHandleIsInvalid"
    sqs.raise_next.append(client_error("InternalError", "DeleteMessageBatch"))
    deleter = Deleter(sqs, "url", "q")

    await deleter.delete([message(1), message(2)])

    # First call raised, the retry deleted h2 and h1 was refused as stale: no third call.
    assert sqs.calls == [("delete", ["h1", "h2"]), ("delete", ["h1", "h2"])]


async def test_release_of_a_message_whose_handle_expired_does_not_raise() -> None:
    sqs = FakeSqs()
    sqs.raise_next.append(client_error("ReceiptHandleIsInvalid", "ChangeMessageVisibilityBatch"))
    await release(sqs, "url", [message(1)], 0)
    sqs.refuse["h2"] = "MessageNotInflight"
    await release(sqs, "url", [message(2), message(3)], 0)
    assert sqs.calls[-1] == ("change", ["h2", "h3"])
