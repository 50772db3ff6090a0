"""The refund command: pay part or all of a checkout back to the wallet, in the caller's
unit of work (uow.py), and hand the reward reversal to the work queue through the outbox.

Every refund of a transaction is a change of its buyer's wallet, so refunds queue on the
buyer's row lock: what earlier refunds paid back is read under that lock, and a refund that
would pay back more than the checkout cost is refused (409) before anything is recorded.
The transactions table's CHECK (refunded <= total) backs the rule at the database.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from services.checkout_api.commands import wallet_stream
from services.checkout_api.typedefs import SOURCE
from services.checkout_api.uow import CheckoutUnitOfWork
from shared.errors import Conflict, NotFound
from shared.events.checkout import RefundIssued
from shared.events.envelope import Envelope, Trace, make_envelope
from shared.messaging.destinations import REWARD_JOBS, USER_NOTICES

# The work queue's job type of a refund's reward reversal.
REVERSAL_JOB = "REFUND_ISSUED"


@dataclass(frozen=True)
class Refunded:
    refund_id: uuid.UUID
    amount: int
    refunded: int  # paid back by every refund of the transaction, this one included
    balance: int


async def refund(
    uow: CheckoutUnitOfWork,
    transaction_id: uuid.UUID,
    amount: int | None,
    reason: str | None,
    actor: str,
    trace: Trace,
) -> Refunded:
    """Refund `amount` cents of a checkout (all that is left when None)."""
    found = await uow.paid_transaction(transaction_id)
    if found is None:
        raise NotFound("transaction", transaction_id)
    await uow.lock_customer(found.customer_id)
    # Read again under the lock: a refund that committed meanwhile counts.
    paid = await uow.paid_transaction(transaction_id)
    assert paid is not None  # transactions are never deleted
    left = paid.total - paid.refunded
    amount = left if amount is None else amount
    if left == 0:
        raise Conflict(f"transaction {transaction_id} is refunded in full")
    if amount > left:
        raise Conflict(f"a refund of {amount} exceeds the {left} left to refund", refundable=left)
    balance = await uow.wallet_balance(paid.customer_id) + amount
    refund_id = uuid.uuid4()
    (transfer_id,) = await uow.next_transfer_ids(1)
    payload = RefundIssued(
        refund_id=refund_id,
        transaction_id=transaction_id,
        customer_id=paid.customer_id,
        amount=amount,
        total=paid.total,
        refunded_before=paid.refunded,
        balance=balance,
        reason=reason,
        entry_id=transfer_id,
    )
    event = make_envelope(payload, source=SOURCE, subject=str(paid.customer_id), trace=trace)
    await uow.record_next(wallet_stream(paid.customer_id), [event], actor)
    await uow.publish(USER_NOTICES, event, {})  # the buyer hears of it at once
    # The job is an envelope of its own, caused by the recorded event (an outbox message
    # is one envelope at one destination), like a checkout's reward job.
    caused = Trace(trace.correlation_id, trace.traceparent, str(event.id))
    job = make_envelope(payload, source=SOURCE, subject=str(paid.customer_id), trace=caused)
    await enqueue_reversal(uow, job)
    await uow.start_reversal_handoff(refund_id)
    return Refunded(refund_id, amount, paid.refunded + amount, balance)


async def enqueue_reversal(uow: CheckoutUnitOfWork, event: Envelope) -> None:
    """Write the reversal job to the outbox; its job id (the refund) de-duplicates it."""
    refund_id = str(event.data["refund_id"])
    await uow.publish(REWARD_JOBS, event, {"jobId": refund_id, "priority": "0"})
