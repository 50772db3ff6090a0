"""A checkout's rewards against a unit of work in memory: claim, decide, record, publish."""

from __future__ import annotations

import uuid

from services.reward_worker import commands
from services.reward_worker.domain import RewardRules
from shared.events.checkout import CheckoutCompleted, customer_stream, transaction_stream
from shared.events.envelope import Envelope, Trace, make_envelope
from shared.messaging.destinations import USER_NOTICES
from tests.unit.reward_worker.fakes import FakeUnitOfWork

RULES = RewardRules()  # 10, 5, 3, 2, 1 percent; levels at 1,000, 5,000 and 20,000 points


def reward_job(uow: FakeUnitOfWork, transaction_id: uuid.UUID, /, **forged: object) -> Envelope:
    """The CHECKOUT_COMPLETED job of a checkout, as checkout_api queues it."""
    checkout = uow.checkouts[transaction_id]
    fields: dict[str, object] = {
        "transaction_id": transaction_id,
        "customer_id": checkout.buyer,
        "total": checkout.total,
        "tier": 0,
        **forged,
    }
    payload = CheckoutCompleted.model_validate(fields)
    trace = Trace("corr-9", "00-trace-span-01")
    return make_envelope(payload, source="checkout_api", subject=checkout.buyer, trace=trace)


async def test_a_checkout_credits_each_upline_member_its_rounded_down_share() -> None:
    uow = FakeUnitOfWork()
    buyer, *upline = uow.chain(7)  # six above the buyer: the sixth is past the depth walked
    transaction_id = uow.checkout(buyer, 12_345)
    job = reward_job(uow, transaction_id)

    rewarded = await commands.distribute(uow, RULES, job)

    assert rewarded is not None
    expected = [1_234, 617, 370, 246, 123]
    assert [uow.points.get(m, 0) for m in upline] == [*expected, 0]
    credits = rewarded.distributed.credits
    assert [(c.customer_id, c.depth, c.points) for c in credits] == [
        (member, depth, points)
        for depth, (member, points) in enumerate(zip(upline, expected, strict=False), 1)
    ]
    assert uow.checkouts[transaction_id].rewards_done
    stream = transaction_stream(transaction_id)
    assert uow.types(stream) == ["POINTS_CREDITED", "REWARDS_DISTRIBUTED"]
    credited, distributed = uow.streams[stream]
    assert [e["entry_id"] for e in credited.data["entries"]] == [1, 2, 3, 4, 5]
    # 1,234 points reach the first threshold: the direct referrer moves up to level 2.
    assert [(u.customer_id, u.new_level) for u in rewarded.upgrades] == [(upline[0], 2)]
    # The notice goes to the customers' queue, caused by the job and in its correlation.
    assert uow.published[-1] == (USER_NOTICES, distributed)
    assert distributed.causationid == str(job.id) and distributed.correlationid == "corr-9"
    assert distributed.traceparent == "00-trace-span-01" and distributed.subject == buyer


async def test_a_job_run_twice_credits_once() -> None:
    uow = FakeUnitOfWork()
    buyer, referrer = uow.chain(2)
    job = reward_job(uow, uow.checkout(buyer, 5_000))
    assert await commands.distribute(uow, RULES, job) is not None
    events, published = sum(map(len, uow.streams.values())), len(uow.published)

    assert await commands.distribute(uow, RULES, job) is None

    assert uow.points[referrer] == 500
    assert sum(map(len, uow.streams.values())) == events and len(uow.published) == published


async def test_the_buyer_and_the_total_come_from_the_checkout_not_from_the_job() -> None:
    uow = FakeUnitOfWork()
    buyer, referrer = uow.chain(2)
    stranger, stranger_referrer = uow.chain(2)
    transaction_id = uow.checkout(buyer, 1_000)
    forged = reward_job(uow, transaction_id, customer_id=stranger, total=10**9)

    rewarded = await commands.distribute(uow, RULES, forged)

    assert rewarded is not None and rewarded.distributed.total == 1_000
    assert uow.points == {referrer: 100}
    assert stranger_referrer not in uow.points and stranger not in uow.points


async def test_an_unknown_checkout_records_nothing() -> None:
    uow = FakeUnitOfWork()
    buyer, _ = uow.chain(2)
    job = reward_job(uow, uow.checkout(buyer, 1_000), transaction_id=uuid.uuid4())

    assert await commands.distribute(uow, RULES, job) is None
    assert not uow.streams and not uow.published


async def test_a_buyer_referred_by_no_one_gets_the_checkout_marked_done_with_no_credit() -> None:
    uow = FakeUnitOfWork()
    (buyer,) = uow.chain(1)
    transaction_id = uow.checkout(buyer, 8_000)

    rewarded = await commands.distribute(uow, RULES, reward_job(uow, transaction_id))

    assert rewarded is not None and rewarded.distributed.credits == []
    assert uow.checkouts[transaction_id].rewards_done and not uow.points
    assert [event.type for _, event in uow.published] == ["REWARDS_DISTRIBUTED"]


async def test_a_credit_that_rounds_to_zero_is_skipped() -> None:
    uow = FakeUnitOfWork()
    buyer, first, second = uow.chain(3)
    transaction_id = uow.checkout(buyer, 15)  # 10 % is 1.5 points, 5 % is 0.75

    rewarded = await commands.distribute(uow, RULES, reward_job(uow, transaction_id))

    assert rewarded is not None
    assert [(c.customer_id, c.points) for c in rewarded.distributed.credits] == [(first, 1)]
    assert uow.points == {first: 1}
    (credited,) = uow.streams[transaction_stream(transaction_id)][:1]
    assert len(credited.data["entries"]) == 1 and second not in uow.points


async def test_a_member_s_level_sets_the_rate_of_its_credit() -> None:
    uow = FakeUnitOfWork()
    buyer, referrer = uow.chain(2)
    uow.levels[referrer] = 2  # a rate of 110 %
    transaction_id = uow.checkout(buyer, 10_000)

    await commands.distribute(uow, RULES, reward_job(uow, transaction_id))

    assert uow.points[referrer] == 1_100
    (entry,) = uow.streams[transaction_stream(transaction_id)][0].data["entries"]
    assert (entry["level"], entry["rate"]) == (2, 110)


async def test_a_member_whose_points_reach_a_threshold_is_raised_and_told_first() -> None:
    rules = RewardRules(thresholds=(100, 1_000, 5_000))
    uow = FakeUnitOfWork()
    buyer, referrer, above = uow.chain(3)
    transaction_id = uow.checkout(buyer, 10_000)  # 1,000 points, then 500 points

    rewarded = await commands.distribute(uow, rules, reward_job(uow, transaction_id))

    assert rewarded is not None
    raised = {(u.customer_id, u.old_level, u.new_level, u.total_points) for u in rewarded.upgrades}
    assert raised == {(referrer, 1, 3, 1_000), (above, 1, 2, 500)}
    assert (uow.levels[referrer], uow.levels[above]) == (3, 2)
    assert uow.types(customer_stream(referrer)) == ["LEVEL_UPGRADED"]
    # Members are locked in one order (like their accounts), so two jobs cannot deadlock.
    assert uow.locked_levels == sorted([referrer, above])
    # Each upgrade is told, then the rewards.
    types = [(destination, event.type) for destination, event in uow.published]
    assert types == [
        (USER_NOTICES, "LEVEL_UPGRADED"),
        (USER_NOTICES, "LEVEL_UPGRADED"),
        (USER_NOTICES, "REWARDS_DISTRIBUTED"),
    ]


async def test_a_member_already_at_the_level_its_points_earn_is_not_raised_again() -> None:
    rules = RewardRules(thresholds=(100, 1_000, 5_000))
    uow = FakeUnitOfWork()
    buyer, referrer = uow.chain(2)
    uow.levels[referrer] = 3
    uow.points[referrer] = 900  # with this checkout's 1,250 it stays below 5,000
    transaction_id = uow.checkout(buyer, 10_000)

    rewarded = await commands.distribute(uow, rules, reward_job(uow, transaction_id))

    assert rewarded is not None and rewarded.upgrades == ()
    assert uow.points[referrer] == 2_150 and uow.levels[referrer] == 3
    assert not uow.locked_levels and customer_stream(referrer) not in uow.streams
