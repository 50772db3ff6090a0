"""A job attempt's deadline: the handler is cancelled once its job type's time is up."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from shared.workqueue.base import Job

JobHandler = Callable[[Job], Awaitable[Any]]


class DeadlineExceeded(Exception):
    """An attempt ran past its job type's deadline and was cancelled (a `hung` attempt)."""


async def call_within(handler: JobHandler, job: Job, deadline: float | None) -> None:
    """Run the handler, cancelling it (cooperatively: at its next await) past the deadline."""
    if deadline is None:
        await handler(job)
        return
    try:
        async with asyncio.timeout(deadline) as scope:
            await handler(job)
    except TimeoutError:
        if not scope.expired():
            raise  # the handler's own timeout (a slow database, say) is an ordinary failure
        raise DeadlineExceeded(f"the attempt ran past its {deadline:g} s deadline") from None
