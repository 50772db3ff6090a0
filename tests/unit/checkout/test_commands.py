"""The checkout commands against a unit of work in memory: decide, record, publish."""

from __future__ import annotations

import uuid

import pytest

from services.checkout_api import commands
from services.checkout_api.domain import MAX_QUANTITY, EmptyCart, UnknownProducts
from shared.errors import NotFound, Problem
from shared.events.envelope import Trace
from shared.messaging.destinations import REWARD_JOBS
from shared.storage.ledger import InsufficientFunds
from tests.unit.checkout.fakes import FakeUnitOfWork

TRACE = Trace("corr-7", "00-trace-span-01")


async def shop() -> tuple[FakeUnitOfWork, uuid.UUID, uuid.UUID, uuid.UUID]:
    """A referrer, a buyer with 10,000 cents (tier 2), and a product at 1,500."""
    uow = FakeUnitOfWork()
    referrer = await commands.register_customer(uow, "Ada", None, 0, "admin", TRACE)
    buyer = await commands.register_customer(uow, "Bo", referrer, 2, "admin", TRACE)
    product = await commands.add_product(uow, "Lamp", 1_500, "admin", TRACE)
    await commands.top_up(uow, buyer, 10_000, "admin", TRACE)
    return uow, referrer, buyer, product


async def test_a_customer_referred_by_no_one_known_is_refused() -> None:
    with pytest.raises(Problem) as refused:
        await commands.register_customer(FakeUnitOfWork(), "Cy", uuid.uuid4(), 0, "a", TRACE)
    assert refused.value.status == 422


async def test_a_top_up_credits_the_wallet_on_its_stream() -> None:
    uow, _, buyer, _ = await shop()
    top_up_id, balance = await commands.top_up(uow, buyer, 2_500, "admin", TRACE)
    assert balance == 12_500
    event = uow.streams[commands.wallet_stream(buyer)][-1]
    assert event.data["top_up_id"] == str(top_up_id) and event.data["topped_up_by"] == "admin"
    assert event.correlationid == "corr-7"


async def test_a_top_up_of_an_unknown_customer_is_not_found() -> None:
    with pytest.raises(NotFound):
        await commands.top_up(FakeUnitOfWork(), uuid.uuid4(), 100, "admin", TRACE)


async def test_cart_lines_add_up_and_stop_at_the_limit() -> None:
    uow, _, buyer, product = await shop()
    await commands.add_to_cart(uow, buyer, product, 2, TRACE)
    await commands.add_to_cart(uow, buyer, product, 3, TRACE)
    assert uow.carts[buyer] == {product: 5}
    with pytest.raises(Problem):
        await commands.add_to_cart(uow, buyer, product, MAX_QUANTITY, TRACE)
    with pytest.raises(UnknownProducts):
        await commands.add_to_cart(uow, buyer, uuid.uuid4(), 1, TRACE)
    assert uow.types(commands.cart_stream(buyer)) == ["CART_ITEM_ADDED", "CART_ITEM_ADDED"]


async def test_removing_a_line_the_cart_does_not_hold_is_not_found() -> None:
    uow, _, buyer, product = await shop()
    with pytest.raises(NotFound):
        await commands.remove_from_cart(uow, buyer, product, TRACE)
    await commands.add_to_cart(uow, buyer, product, 1, TRACE)
    await commands.remove_from_cart(uow, buyer, product, TRACE)
    assert uow.carts[buyer] == {}


async def test_a_checkout_debits_clears_the_paid_lines_and_queues_one_reward_job() -> None:
    uow, _, buyer, product = await shop()
    await commands.add_to_cart(uow, buyer, product, 4, TRACE)
    transaction_id, total, balance = await commands.checkout(uow, buyer, None, TRACE)
    assert (total, balance) == (6_000, 4_000)
    assert uow.carts[buyer] == {}
    assert uow.locked.count(buyer) >= 2  # every change of the wallet queues on the lock
    ((destination, job, attributes),) = uow.published
    assert destination == REWARD_JOBS
    assert attributes == {"jobId": str(transaction_id), "priority": "2"}
    assert job.type == "CHECKOUT_COMPLETED" and job.data["total"] == 6_000
    debit = uow.streams[commands.wallet_stream(buyer)][-1]
    # The job carries the request's trace, and the debit is its cause.
    assert (job.correlationid, job.causationid) == ("corr-7", str(debit.id))
    assert uow.handoffs == [transaction_id]


async def test_buying_given_items_leaves_the_cart_alone() -> None:
    uow, _, buyer, product = await shop()
    await commands.add_to_cart(uow, buyer, product, 1, TRACE)
    _, total, _ = await commands.checkout(uow, buyer, [(product, 2), (product, 1)], TRACE)
    assert total == 4_500
    assert uow.carts[buyer] == {product: 1}


async def test_a_checkout_the_wallet_cannot_pay_records_and_queues_nothing() -> None:
    uow, _, buyer, product = await shop()
    before = {stream: len(events) for stream, events in uow.streams.items()}
    with pytest.raises(InsufficientFunds):
        await commands.checkout(uow, buyer, [(product, 7)], TRACE)
    assert {stream: len(events) for stream, events in uow.streams.items()} == before
    assert uow.published == [] and uow.balances[buyer] == 10_000


async def test_an_empty_cart_or_unknown_items_cannot_be_checked_out() -> None:
    uow, _, buyer, _ = await shop()
    with pytest.raises(EmptyCart):
        await commands.checkout(uow, buyer, None, TRACE)
    with pytest.raises(UnknownProducts):
        await commands.checkout(uow, buyer, [(uuid.uuid4(), 1)], TRACE)
    assert uow.published == []
