-- The reconciler's clock of each refund's reversal job (operational state, never replayed),
-- like reward_handoffs for checkouts.
CREATE TABLE checkout.refund_handoffs (
    refund_id    uuid PRIMARY KEY,
    enqueued_at  timestamptz NOT NULL DEFAULT now(),
    enqueues     integer NOT NULL DEFAULT 1
);
INSERT INTO checkout.refund_handoffs (refund_id, enqueued_at)
    SELECT id, created_at FROM checkout.refunds;
-- The reconciler rebuilds a reversal job from its REFUND_ISSUED event.
CREATE INDEX events_refund_issued ON checkout.events ((data->>'refund_id'))
    WHERE type = 'REFUND_ISSUED';
