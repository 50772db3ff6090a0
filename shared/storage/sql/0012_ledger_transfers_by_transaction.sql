-- The transfers a checkout made (its debit, its refunds, its reward credits and their
-- reversals) name it in details.transaction_id: a refund's reversal reads the credits it
-- takes back by it, which without an index scans every transfer ever made.
CREATE INDEX ledger_transfers_by_transaction
    ON {schema}.ledger_transfers ((details->>'transaction_id'), kind);
