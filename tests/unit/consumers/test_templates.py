"""Every notice the consumers send has a template whose placeholders all get a value."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from services.notification_consumer.handlers import BOOKING_OUTCOMES, lead_text
from shared.messaging.notifications import Templates

ROOT = Path(__file__).resolve().parents[3] / "services"
BOOKING = {
    "booking_id": str(uuid.uuid4()),
    "slot_id": str(uuid.uuid4()),
    "user_id": "user-1",
    "provider_id": "provider-1",
    "starts_at": datetime(2030, 1, 1, 9, tzinfo=UTC).isoformat(),
    "ends_at": datetime(2030, 1, 1, 10, tzinfo=UTC).isoformat(),
    "reason": None,
    "notes": None,
    "expires_at": datetime(2030, 1, 1, 8, tzinfo=UTC).isoformat(),
    "cancelled_by": "",
    "from_slot_id": str(uuid.uuid4()),
    "from_starts_at": datetime(2030, 1, 1, 7, tzinfo=UTC).isoformat(),
    "from_ends_at": datetime(2030, 1, 1, 8, tzinfo=UTC).isoformat(),
}
VALUES = {
    **{kind: BOOKING for kind in (*BOOKING_OUTCOMES, "BOOKING_CREATED")},
    "BOOKING_REMINDER": {**BOOKING, "lead": "1 hour", "lead_seconds": 3600.0},
    "REWARDS_DISTRIBUTED": {
        "transaction_id": str(uuid.uuid4()),
        "buyer_id": "c1",
        "points": 300,
        "depth": 1,
    },
    "LEVEL_UPGRADED": {"customer_id": "c2", "old_level": 1, "new_level": 2, "total_points": 1500},
    "REFUND_ISSUED": {
        "transaction_id": str(uuid.uuid4()),
        "amount": "10.01",
        "balance": "25.00",
        "reason": "",
    },
    "REWARDS_REVERSED": {"transaction_id": str(uuid.uuid4()), "points": 110},
}
EXPECTED = {
    "provider_consumer": {
        "BOOKING_CREATED",
        "BOOKING_CANCELLED",
        "BOOKING_EXPIRED",
        "BOOKING_RESCHEDULED",
    },
    "notification_consumer": {
        *BOOKING_OUTCOMES,
        "BOOKING_REMINDER",
        "REWARDS_DISTRIBUTED",
        "LEVEL_UPGRADED",
        "REFUND_ISSUED",
        "REWARDS_REVERSED",
    },
}


@pytest.mark.parametrize("service", sorted(EXPECTED))
def test_each_notice_kind_has_a_template_that_leaves_no_placeholder(service: str) -> None:
    templates = Templates(ROOT / service / "templates")
    assert set(templates.kinds()) == EXPECTED[service]
    for kind in templates.kinds():
        subject, body = templates.render(kind, {**VALUES[kind], "recipient_id": "r1"})
        assert subject and "\n" not in subject
        assert "$" not in subject + body, f"{service}/{kind}: {subject} {body}"


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (86_400, "1 day"),
        (3_600, "1 hour"),
        (5, "5 seconds"),
        (0.2, "1 second"),
        (9_000, "2 hours 30 minutes"),
        (90_061, "1 day 1 hour"),
        (86_405, "1 day"),
        (172_800, "2 days"),
    ],
)
def test_a_reminder_says_its_lead_in_its_two_largest_units(seconds: float, words: str) -> None:
    assert lead_text(seconds) == words
