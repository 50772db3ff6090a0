-- Double entry: every movement is a transfer of a positive amount from one account (its
-- debit) to another (its credit), written as two entries that sum to zero. A transfer is
-- identified by its (kind, reference), so the same movement cannot be made twice; its id is
-- the id the event that made it carries (ledger entry ids before this migration, which it
-- keeps: transfer N of old data is the old entry N with its counter-entry).
--
-- Customer accounts (wallet cents, tree points) keep a balance row, never negative: a debit
-- moves it by compare-and-swap and the CHECK backs it. The shop's and the mall's own
-- accounts (shop revenue, the top-up source, reward expense) keep no row: every checkout
-- would otherwise queue on one row lock; their balance is the sum of their entries.
CREATE TABLE {schema}.ledger_transfers (
    id            bigserial PRIMARY KEY,
    kind          text NOT NULL,
    reference     text NOT NULL,
    debit_type    text NOT NULL,
    debit_owner   text NOT NULL,
    credit_type   text NOT NULL,
    credit_owner  text NOT NULL,
    amount        bigint NOT NULL CHECK (amount > 0),
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, reference),
    CHECK ((debit_type, debit_owner) <> (credit_type, credit_owner))
);

ALTER TABLE {schema}.ledger_entries RENAME TO ledger_entries_single;
ALTER INDEX {schema}.ledger_entries_account RENAME TO ledger_entries_single_account;

CREATE TABLE {schema}.ledger_entries (
    transfer_id   bigint NOT NULL REFERENCES {schema}.ledger_transfers (id) ON DELETE CASCADE,
    side          text NOT NULL CHECK (side IN ('debit', 'credit')),
    account_type  text NOT NULL,
    owner_id      text NOT NULL,
    amount        bigint NOT NULL,
    PRIMARY KEY (transfer_id, side),
    -- A debit takes from its account, a credit adds to it.
    CHECK (CASE side WHEN 'debit' THEN amount < 0 ELSE amount > 0 END)
);
CREATE INDEX ledger_entries_account
    ON {schema}.ledger_entries (account_type, owner_id, transfer_id DESC);

-- Old data: each single entry becomes a transfer under its own id, against the account
-- its kind moves money to or from. A kind this migration does not know (none in the
-- services' data) is set against an opening-balance account of the same unit.
INSERT INTO {schema}.ledger_transfers
    (id, kind, reference, debit_type, debit_owner, credit_type, credit_owner, amount,
     details, created_at)
SELECT e.id, e.kind, e.reference,
       CASE WHEN e.amount < 0 THEN e.account_type ELSE c.account_type END,
       CASE WHEN e.amount < 0 THEN e.owner_id ELSE c.owner_id END,
       CASE WHEN e.amount < 0 THEN c.account_type ELSE e.account_type END,
       CASE WHEN e.amount < 0 THEN c.owner_id ELSE e.owner_id END,
       abs(e.amount), e.details, e.created_at
FROM {schema}.ledger_entries_single e
CROSS JOIN LATERAL (
    SELECT CASE e.kind
               WHEN 'top_up' THEN 'top_up_source'
               WHEN 'checkout_debit' THEN 'shop_revenue'
               WHEN 'refund' THEN 'shop_revenue'
               WHEN 'reward_credit' THEN 'reward_expense'
               WHEN 'reward_reversal' THEN 'reward_expense'
               ELSE 'opening_balance'
           END AS account_type,
           CASE WHEN e.kind IN ('top_up', 'checkout_debit', 'refund', 'reward_credit',
                                'reward_reversal')
                THEN 'mall' ELSE e.account_type
           END AS owner_id
) c;

INSERT INTO {schema}.ledger_entries (transfer_id, side, account_type, owner_id, amount)
SELECT id, 'debit', debit_type, debit_owner, -amount FROM {schema}.ledger_transfers
UNION ALL
SELECT id, 'credit', credit_type, credit_owner, amount FROM {schema}.ledger_transfers;

-- New transfer ids continue after every id the old entries handed out (or reserved).
SELECT setval(pg_get_serial_sequence('{schema}.ledger_transfers', 'id'), s.last_value,
              s.is_called)
FROM {schema}.ledger_entries_id_seq s;

-- Balance rows are kept for customer accounts only; every one must still equal its entries.
DELETE FROM {schema}.ledger_accounts
WHERE account_type NOT IN ('wallet', 'points');

DO $$
DECLARE
    off text;
BEGIN
    SELECT a.account_type || ' ' || a.owner_id INTO off
    FROM {schema}.ledger_accounts a
    LEFT JOIN (SELECT account_type, owner_id, sum(amount) AS total
               FROM {schema}.ledger_entries GROUP BY account_type, owner_id) e
      USING (account_type, owner_id)
    WHERE a.balance <> coalesce(e.total, 0)
    LIMIT 1;
    IF off IS NOT NULL THEN
        RAISE EXCEPTION 'ledger migration: the balance of % differs from its entries', off;
    END IF;
END $$;

DROP TABLE {schema}.ledger_entries_single;
