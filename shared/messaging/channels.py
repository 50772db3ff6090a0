"""Delivery channels of notifications: email over SMTP and signed webhooks.

A webhook is a POST of the notification as JSON with the header
`X-Signature-256: sha256=<hex HMAC-SHA256 of the raw body under the webhook secret>` and
`X-Notification-Id` (stable across retries, so a receiver can drop a repeat). An email
carries `Message-ID: <notification id@domain>` for the same reason.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from typing import Any, Protocol

import aiohttp
import aiosmtplib

from shared.config import Settings

SIGNATURE_HEADER = "X-Signature-256"
ID_HEADER = "X-Notification-Id"


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


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, signature: str) -> bool:
    return hmac.compare_digest(sign(secret, body), signature)


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
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(self.secret, body),
            ID_HEADER: notification.id,
        }
        async with self.session.post(
            self.url, data=body, headers=headers, timeout=self.timeout
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
