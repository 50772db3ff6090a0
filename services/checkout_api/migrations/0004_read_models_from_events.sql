-- Every read model of the checkout context is a projection of its events, rebuilt by replay
-- row for row. What is not derived from events moves out of them: the reconciler's clock
-- of each reward job lives in reward_handoffs (operational state, never replayed).
CREATE TABLE checkout.reward_handoffs (
    transaction_id  uuid PRIMARY KEY,
    enqueued_at     timestamptz NOT NULL DEFAULT now(),
    enqueues        integer NOT NULL DEFAULT 1
);
INSERT INTO checkout.reward_handoffs (transaction_id, enqueued_at, enqueues)
    SELECT id, reward_enqueued_at, reward_enqueues FROM checkout.transactions;

DROP INDEX checkout.transactions_rewards_pending;
ALTER TABLE checkout.transactions
    DROP COLUMN reward_enqueued_at,
    DROP COLUMN reward_enqueues;
-- The reconciler and the pending gauge read only the pending transactions.
CREATE INDEX transactions_rewards_pending ON checkout.transactions (created_at)
    WHERE rewards_status = 'pending';
