-- Double-entry-style ledger of integer amounts (cents for wallets, points for tree points).
-- The balance is a projection of the entries, kept in the same transaction, never negative.
CREATE TABLE {schema}.ledger_accounts (
    account_type  text NOT NULL,
    owner_id      text NOT NULL,
    balance       bigint NOT NULL DEFAULT 0 CHECK (balance >= 0),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account_type, owner_id)
);

CREATE TABLE {schema}.ledger_entries (
    id            bigserial PRIMARY KEY,
    account_type  text NOT NULL,
    owner_id      text NOT NULL,
    amount        bigint NOT NULL CHECK (amount <> 0),
    kind          text NOT NULL,
    reference     text NOT NULL,
    details       jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    -- One posting of a kind per reference and account: a retried job cannot post twice.
    UNIQUE (account_type, owner_id, kind, reference)
);
CREATE INDEX ledger_entries_account ON {schema}.ledger_entries (account_type, owner_id, id DESC);
