"""A refund's reversal against a unit of work in memory: each credit's share taken back, once."""

from __future__ import annotations

import uuid

import pytest

from services.reward_worker import commands
from services.reward_worker.domain import RewardRules
from shared.events.checkout import RefundIssued, customer_stream, transaction_stream
from shared.events.envelope import Envelope, Trace, make_envelope
from shared.messaging.destinations import USER_NOTICES
from tests.unit.reward_worker.fakes import FakeUnitOfWork
from tests.unit.reward_worker.test_rewards import reward_job

RULES = RewardRules(thresholds=(100, 1_000, 5_000))


async def rewarded(total: int = 10_000) -> tuple[FakeUnitOfWork, uuid.UUID, list[str]]:
    """A checkout of `total` by the first of a chain of six, its rewards paid."""
    uow = FakeUnitOfWork()
    buyer, *upline = uow.chain(6)
    transaction_id = uow.checkout(buyer, total)
    assert await commands.distribute(uow, RULES, reward_job(uow, transaction_id)) is not None
    return uow, transaction_id, upline


def reversal_job(uow: FakeUnitOfWork, refund_id: uuid.UUID) -> Envelope:
    """The REFUND_ISSUED job of a refund, as checkout_api queues it."""
    refund = uow.refunds[refund_id]
    checkout = uow.checkouts[refund.transaction_id]
    payload = RefundIssued(
        refund_id=refund_id,
        transaction_id=refund.transaction_id,
        customer_id=uuid.UUID(checkout.buyer),
        amount=refund.amount,
        total=checkout.total,
        refunded_before=refund.before,
        balance=0,
    )
    trace = Trace("corr-3")
    return make_envelope(payload, source="checkout_api", subject=checkout.buyer, trace=trace)


async def test_a_refund_takes_back_its_share_of_every_credit() -> None:
    uow, transaction_id, upline = await rewarded()
    assert [uow.points[m] for m in upline] == [1_000, 500, 300, 200, 100]
    job = reversal_job(uow, uow.refund(transaction_id, 3_333))

    reversed_ = await commands.reverse(uow, job)

    assert reversed_ is not None
    taken = [333, 166, 99, 66, 33]  # each rounded down
    assert [(r.customer_id, r.points) for r in reversed_.reversals] == list(
        zip(upline, taken, strict=True)
    )
    assert [uow.points[m] for m in upline] == [667, 334, 201, 134, 67]
    stream = transaction_stream(transaction_id)
    assert uow.types(stream)[-2:] == ["POINTS_REVERSED", "REWARDS_REVERSED"]
    points_reversed, notice = uow.streams[stream][-2:]
    assert [e["entry_id"] for e in points_reversed.data["entries"]] == [6, 7, 8, 9, 10]
    assert uow.published[-1] == (USER_NOTICES, notice)
    assert notice.causationid == str(job.id) and notice.correlationid == "corr-3"


async def test_refunds_of_the_whole_total_take_back_every_credit_to_the_point() -> None:
    uow, transaction_id, upline = await rewarded()
    for amount in (3_333, 3_333, 3_334):
        job = reversal_job(uow, uow.refund(transaction_id, amount))
        assert await commands.reverse(uow, job) is not None
    assert [uow.points[m] for m in upline] == [0, 0, 0, 0, 0]


async def test_a_reversal_run_twice_takes_back_once() -> None:
    uow, transaction_id, upline = await rewarded()
    job = reversal_job(uow, uow.refund(transaction_id, 5_000))
    assert await commands.reverse(uow, job) is not None
    published = len(uow.published)

    assert await commands.reverse(uow, job) is None

    assert uow.points[upline[0]] == 500 and len(uow.published) == published
    assert uow.types(transaction_stream(transaction_id)).count("POINTS_REVERSED") == 1


async def test_a_refund_of_a_checkout_whose_rewards_are_pending_waits_for_them() -> None:
    uow = FakeUnitOfWork()
    buyer, referrer = uow.chain(2)
    transaction_id = uow.checkout(buyer, 1_000)
    refund_id = uow.refund(transaction_id, 1_000)

    with pytest.raises(commands.RewardsNotPaidYet):  # the job fails and is retried later
        await commands.reverse(uow, reversal_job(uow, refund_id))
    assert not uow.streams and not uow.refunds[refund_id].reversal_done

    await commands.distribute(uow, RULES, reward_job(uow, transaction_id))
    assert await commands.reverse(uow, reversal_job(uow, refund_id)) is not None
    assert uow.points[referrer] == 0


async def test_a_refund_too_small_to_take_a_point_is_done_with_nothing_taken() -> None:
    uow, transaction_id, upline = await rewarded()
    refund_id = uow.refund(transaction_id, 1)

    reversed_ = await commands.reverse(uow, reversal_job(uow, refund_id))

    assert reversed_ is not None and reversed_.reversals == []
    assert uow.refunds[refund_id].reversal_done
    assert [uow.points[m] for m in upline] == [1_000, 500, 300, 200, 100]


async def test_a_reversal_leaves_the_levels_members_reached() -> None:
    uow, transaction_id, upline = await rewarded()
    assert uow.levels[upline[0]] == 3  # 1,000 points reached the second threshold

    await commands.reverse(uow, reversal_job(uow, uow.refund(transaction_id, 10_000)))

    assert uow.points[upline[0]] == 0 and uow.levels[upline[0]] == 3
    # Nothing recorded on the member's stream since its upgrade: levels never go down.
    assert uow.types(customer_stream(upline[0])) == ["LEVEL_UPGRADED"]


async def test_an_unknown_refund_records_nothing() -> None:
    uow, transaction_id, _ = await rewarded()
    job = reversal_job(uow, uow.refund(transaction_id, 100))
    del uow.refunds[uuid.UUID(job.data["refund_id"])]
    events = sum(map(len, uow.streams.values()))

    assert await commands.reverse(uow, job) is None
    assert sum(map(len, uow.streams.values())) == events
