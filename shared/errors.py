"""The one error type of the suite, rendered as RFC 9457 problem+json at the HTTP edge."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class Problem(Exception):
    """A failure the client should hear about, with an HTTP status and a stable type."""

    def __init__(
        self,
        status: int,
        detail: str | None = None,
        *,
        title: str | None = None,
        type_: str | None = None,
        **extensions: Any,
    ) -> None:
        self.status = status
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail
        self.type = type_ or f"https://errors.suite.local/{self.title.lower().replace(' ', '-')}"
        self.extensions = extensions
        super().__init__(detail or self.title)

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"type": self.type, "title": self.title, "status": self.status}
        if self.detail:
            body["detail"] = self.detail
        if instance:
            body["instance"] = instance
        body.update(self.extensions)
        return body


class NotFound(Problem):
    def __init__(self, what: str, ident: object) -> None:
        super().__init__(404, f"{what} {ident} does not exist")


class Conflict(Problem):
    def __init__(self, detail: str, **extensions: Any) -> None:
        super().__init__(409, detail, **extensions)


class Unauthorized(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(401, detail)


class Forbidden(Problem):
    def __init__(self, detail: str) -> None:
        super().__init__(403, detail)


class ServiceUnavailable(Problem):
    def __init__(self, detail: str, *, retry_after: int = 1, **extensions: Any) -> None:
        super().__init__(503, detail, **extensions)
        self.retry_after = retry_after


class DependencyUnavailable(RuntimeError):
    """A dependency other than the database (a broker) did not answer: the same work may
    succeed later. Background loops count it as `kind="dependency"` and back off."""


class RefusedToStart(RuntimeError):
    """The process must not run as configured (e.g. a broker that may lose jobs): it exits
    with this one-line message, never serving."""
