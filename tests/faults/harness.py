"""Setup the fault scenarios share: checkout_api in the test process, a funded referral chain,
and SIGKILLing a process each time a workload reaches a threshold."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager

from services.checkout_api.app import create_app as create_checkout_app
from shared.config import Settings
from shared.http.lifecycle import DATABASE
from tests.faults.processes import AdminCall, ServiceProcess
from tests.integration.checkout.conftest import Api
from tests.support.http import serve
from tests.support.wait import eventually

# Creates a customer (name, referrer id or None) and returns its id.
CreateCustomer = Callable[[str, str | None], Awaitable[str]]


@asynccontextmanager
async def checkout_in_process(settings: Settings) -> AsyncIterator[Api]:
    """checkout_api (with its relay and reconciler) on a real port, once its pool is ready."""
    app = create_checkout_app(settings)
    async with serve(app) as client:
        await app[DATABASE].wait_ready(timeout=10)
        yield Api(client, settings)


async def referral_chain(create: CreateCustomer, members: int) -> list[str]:
    """A root and `members` customers below it, each referred by the one before: root first.
    The member at index i has min(i, 5) uplines that the default rules credit."""
    chain = [await create("root", None)]
    for i in range(members):
        chain.append(await create(f"member{i}", chain[-1]))
    return chain


def customers_of(api: Api) -> CreateCustomer:
    """CreateCustomer through an in-process checkout_api."""

    async def create(name: str, referrer: str | None) -> str:
        return await api.customer(name, referrer_id=referrer)

    return create


async def kill_at(
    process: ServiceProcess,
    progress: Callable[[], Awaitable[int]],
    thresholds: Sequence[int | float],
    *,
    what: str,
    interval: float = 0.02,
) -> list[int]:
    """SIGKILL `process` once `progress()` reaches each threshold, restarting it each time;
    returns the progress seen right after each kill."""
    seen = []
    for threshold in thresholds:

        async def reached(threshold: int | float = threshold) -> bool:
            return await progress() >= threshold

        await eventually(reached, timeout=120, interval=interval, what=f"{threshold} {what}")
        process.kill()
        seen.append(await progress())
        process.start()
    return seen


def customers_via(admin: AdminCall) -> CreateCustomer:
    """CreateCustomer through a checkout_api process, as an admin."""

    async def create(name: str, referrer: str | None) -> str:
        body = {"name": name} if referrer is None else {"name": name, "referrer_id": referrer}
        return str((await admin("/customers", body))["id"])

    return create
