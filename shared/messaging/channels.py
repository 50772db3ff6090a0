"""Delivery channels of notifications: email over SMTP and signed webhooks.

A webhook is a POST of the notification as JSON, signed the Standard Webhooks way:
`webhook-id` (the notification id, stable across retries, so a receiver can drop a repeat),
`webhook-timestamp` (Unix seconds of this attempt) and
`webhook-signature: v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">`. The signature
covers the id and the time, so a receiver that refuses old timestamps refuses replays.
The key is `WEBHOOK_SECRET`: base64-decoded after a `whsec_` prefix, else its raw bytes.
Redirects are never followed: a 3xx is a failed delivery, retried like any other.
An email carries `Message-ID: <notification id@domain>` to let a receiver drop repeats too.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Protocol

import aiohttp
import aiosmtplib

from shared.config import Settings, webhook_key

ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
# Seconds a receiver accepts between the signed timestamp and its own clock (as the
# Standard Webhooks libraries do): older deliveries count as replays.
REPLAY_TOLERANCE = 300.0


@dataclass(frozen=True)
class Outgoing:
    """A notification on its way out through one channel."""

    id: str
    recipient_id: str
    kind: str
    subject: str
    body: str
    data: dict[str, Any]
    created_at: datetime


class Channel(Protocol):
    name: str

    async def send(self, notification: Outgoing) -> None:
        """Deliver or raise."""
        ...


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value of one delivery."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(webhook_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = REPLAY_TOLERANCE,
    now: float | None = None,
) -> bool:
    """What a receiver checks: one of the signatures matches, and the timestamp is within
    `tolerance` seconds of `now` (an older one is a replay). Header names as sent (lower case)
    or any case with a case-insensitive mapping such as aiohttp's request headers."""
    message_id = headers.get(ID_HEADER)
    stamp = headers.get(TIMESTAMP_HEADER)
    signatures = headers.get(SIGNATURE_HEADER)
    if not message_id or not signatures or not (stamp and stamp.isascii() and stamp.isdigit()):
        return False
    timestamp = int(stamp)
    if abs((time.time() if now is None else now) - timestamp) > tolerance:
        return False
    expected = sign(secret, message_id, timestamp, body)
    # The header may carry several space-separated signatures (a key being rotated).
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures.split())


class EmailChannel:
    name = "email"

    def __init__(self, settings: Settings) -> None:
        self.host = settings.smtp_host
        self.port = settings.smtp_port
        self.sender = settings.smtp_from
        self.domain = settings.smtp_recipient_domain
        self.timeout = settings.smtp_timeout

    def address(self, recipient_id: str) -> str:
        """Recipients are addressed by id until a user directory provides real addresses."""
        return f"{recipient_id}@{self.domain}"

    async def send(self, notification: Outgoing) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = self.address(notification.recipient_id)
        message["Subject"] = notification.subject
        message["Message-ID"] = f"<{notification.id}@{self.domain}>"
        message.set_content(notification.body)
        await aiosmtplib.send(message, hostname=self.host, port=self.port, timeout=self.timeout)


class WebhookChannel:
    name = "webhook"

    def __init__(self, settings: Settings, session: aiohttp.ClientSession) -> None:
        self.url = settings.webhook_url
        self.secret = settings.webhook_secret
        self.session = session
        self.timeout = aiohttp.ClientTimeout(total=settings.webhook_timeout)

    async def send(self, notification: Outgoing) -> None:
        body = json.dumps(
            {
                "id": notification.id,
                "recipient_id": notification.recipient_id,
                "kind": notification.kind,
                "subject": notification.subject,
                "body": notification.body,
                "data": notification.data,
                "created_at": notification.created_at.isoformat(),
            },
            separators=(",", ":"),
        ).encode()
        timestamp = int(time.time())
        headers = {
            "Content-Type": "application/json",
            ID_HEADER: notification.id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self.secret, notification.id, timestamp, body),
        }
        # A followed redirect turns the POST into a body-less GET to wherever it points: a 3xx
        # is answered by the receiver's configuration, not a delivery, so it fails and retries.
        async with self.session.post(
            self.url, data=body, headers=headers, timeout=self.timeout, allow_redirects=False
        ) as response:
            if response.status >= 300:
                raise RuntimeError(f"webhook answered {response.status}")


def enabled_channels(settings: Settings, session: aiohttp.ClientSession) -> list[Channel]:
    """The channels configured in the settings (in-app needs none: it is the stored row)."""
    channels: list[Channel] = []
    if settings.smtp_host:
        channels.append(EmailChannel(settings))
    if settings.webhook_url:
        channels.append(WebhookChannel(settings, session))
    return channels
