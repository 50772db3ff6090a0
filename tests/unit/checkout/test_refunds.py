"""The refund command against a unit of work in memory."""

from __future__ import annotations

import uuid

import pytest

from services.checkout_api import commands, refunds
from shared.errors import Conflict, NotFound
from shared.messaging.destinations import REWARD_JOBS, USER_NOTICES
from tests.unit.checkout.fakes import FakeUnitOfWork
from tests.unit.checkout.test_commands import TRACE, shop


async def paid() -> tuple[FakeUnitOfWork, uuid.UUID, uuid.UUID]:
    """A buyer who paid 3,000 of their 10,000 for two lamps."""
    uow, _, buyer, product = await shop()
    transaction_id, total, _ = await commands.checkout(uow, buyer, [(product, 2)], TRACE)
    assert total == 3_000
    return uow, buyer, transaction_id


async def test_a_partial_refund_credits_the_wallet_and_queues_its_reversal() -> None:
    uow, buyer, transaction_id = await paid()
    done = await refunds.refund(uow, transaction_id, 1_000, "broken", "admin", TRACE)
    assert (done.amount, done.refunded, done.balance) == (1_000, 1_000, 8_000)
    event = uow.streams[commands.wallet_stream(buyer)][-1]
    assert event.type == "REFUND_ISSUED" and event.data["refunded_before"] == 0
    assert event.data["reason"] == "broken" and event.correlationid == "corr-7"
    (notice_to, notice, _), (destination, job, attributes) = uow.published[-2:]
    assert (notice_to, notice.id) == (USER_NOTICES, event.id)
    assert (destination, job.type) == (REWARD_JOBS, refunds.REVERSAL_JOB)
    assert attributes["jobId"] == str(done.refund_id)
    assert job.data == event.data and job.causationid == str(event.id)
    assert uow.handoffs[-1] == done.refund_id  # the reconciler's clock started


async def test_a_refund_without_an_amount_pays_back_all_that_is_left() -> None:
    uow, _, transaction_id = await paid()
    await refunds.refund(uow, transaction_id, 500, None, "admin", TRACE)
    rest = await refunds.refund(uow, transaction_id, None, None, "admin", TRACE)
    assert (rest.amount, rest.refunded, rest.balance) == (2_500, 3_000, 10_000)


async def test_refunds_never_pay_back_more_than_the_checkout_cost() -> None:
    uow, buyer, transaction_id = await paid()
    await refunds.refund(uow, transaction_id, 2_000, None, "admin", TRACE)
    with pytest.raises(Conflict) as refused:
        await refunds.refund(uow, transaction_id, 1_001, None, "admin", TRACE)
    assert refused.value.status == 409
    await refunds.refund(uow, transaction_id, 1_000, None, "admin", TRACE)
    with pytest.raises(Conflict):
        await refunds.refund(uow, transaction_id, None, None, "admin", TRACE)
    assert uow.balances[buyer] == 10_000


async def test_a_refund_of_an_unknown_transaction_is_not_found() -> None:
    uow, _, _ = await paid()
    with pytest.raises(NotFound):
        await refunds.refund(uow, uuid.uuid4(), None, None, "admin", TRACE)
