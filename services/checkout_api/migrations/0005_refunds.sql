-- Refunds of checkouts, projected from REFUND_ISSUED; the reward worker's projection of
-- REWARDS_REVERSED marks each one's reversal done.
ALTER TABLE checkout.transactions
    ADD COLUMN refunded bigint NOT NULL DEFAULT 0,
    ADD CONSTRAINT transactions_refunded_within_total CHECK (refunded >= 0 AND refunded <= total);

CREATE TABLE checkout.refunds (
    id               uuid PRIMARY KEY,
    transaction_id   uuid NOT NULL REFERENCES checkout.transactions (id),
    customer_id      uuid NOT NULL,
    amount           bigint NOT NULL CHECK (amount > 0),
    refunded_before  bigint NOT NULL CHECK (refunded_before >= 0),
    reason           text,
    reversal_status  text NOT NULL DEFAULT 'pending'
        CHECK (reversal_status IN ('pending', 'done')),
    reversed_at      timestamptz,
    created_at       timestamptz NOT NULL
);
CREATE INDEX refunds_by_transaction ON checkout.refunds (transaction_id, created_at);
CREATE INDEX refunds_reversal_pending ON checkout.refunds (created_at)
    WHERE reversal_status = 'pending';
