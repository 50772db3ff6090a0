-- GET /wallet as checkout_api sends it (statement log), for customer uuid(client + 1).
\set customer :client_id + 1
BEGIN ISOLATION LEVEL REPEATABLE READ;
SELECT id, name, referrer_id, level, tier FROM checkout.customers WHERE id = lpad(to_hex(:customer::bigint), 32, '0')::uuid;
SELECT balance FROM checkout.ledger_accounts WHERE account_type = 'wallet' AND owner_id = lpad(to_hex(:customer::bigint), 32, '0')::uuid::text;
SELECT t.id, e.amount, t.kind, t.reference, t.details, t.created_at,
                   CASE e.side WHEN 'debit' THEN t.credit_type ELSE t.debit_type END AS ctype,
                   CASE e.side WHEN 'debit' THEN t.credit_owner ELSE t.debit_owner END AS cowner
            FROM checkout.ledger_entries e
            JOIN checkout.ledger_transfers t ON t.id = e.transfer_id
            WHERE e.account_type = 'wallet' AND e.owner_id = lpad(to_hex(:customer::bigint), 32, '0')::uuid::text
              AND (NULL::bigint IS NULL OR e.transfer_id < NULL)
            ORDER BY e.transfer_id DESC LIMIT 21;
COMMIT;
