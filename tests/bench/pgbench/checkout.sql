-- POST /checkout (one product, quantity 2) as checkout_api sends it (statement log), for
-- customer uuid(client + 1) and transaction uuid(random). The ledger entry's id comes with
-- the balance, as in the service; the wallet's counter account is the shop's revenue.
\set customer :client_id + 1
\set tx random(1, 3000000000000000000)
\set debit random(1, 3000000000000000000)
\set event random(1, 3000000000000000000)
\set key random(1, 9000000000000000000)
BEGIN;
SELECT pg_try_advisory_xact_lock(:key);
DELETE FROM checkout.idempotency_keys WHERE principal = 'customer:' || :customer AND key = 'k' || :key AND expires_at < now();
INSERT INTO checkout.idempotency_keys (principal, key, request_hash, expires_at)
                VALUES ('customer:' || :customer, 'k' || :key, '4adfdd9e57c1a31ca832a31575f0f8e9e7df0cdbf223255743b5c149a604e20f', now() + make_interval(secs => 86400))
                ON CONFLICT DO NOTHING RETURNING true;
SELECT id, name, referrer_id, level, tier FROM checkout.customers WHERE id = lpad(to_hex(:customer::bigint), 32, '0')::uuid FOR NO KEY UPDATE;
SELECT id, name, price FROM checkout.products WHERE id = ANY(ARRAY[:product::uuid]) ORDER BY id;
SELECT coalesce((SELECT balance FROM checkout.ledger_accounts
                             WHERE account_type = 'wallet' AND owner_id = lpad(to_hex(:customer::bigint), 32, '0')::uuid::text), 0) AS balance,
                   nextval(pg_get_serial_sequence('checkout.ledger_transfers', 'id')) AS id \gset entry_
WITH appended AS (
                    INSERT INTO checkout.events
                        (event_id, stream_id, version, type, data, metadata, occurred_at)
                    SELECT e.id, 'wallet-' || lpad(to_hex(:customer::bigint), 32, '0')::uuid, last.version + e.n, e.type, e.data, e.metadata, e.at
                    FROM (SELECT coalesce(max(version), 0) AS version
                          FROM checkout.events WHERE stream_id = 'wallet-' || lpad(to_hex(:customer::bigint), 32, '0')::uuid) AS last,
                         unnest(ARRAY[lpad(to_hex(:debit::bigint), 32, '0')::uuid], ARRAY['WALLET_DEBITED'], ARRAY[:debited::jsonb], ARRAY[:meta::jsonb],
                                ARRAY[:at::timestamptz])
                             WITH ORDINALITY AS e(id, type, data, metadata, at, n)
                    ON CONFLICT (stream_id, version) DO NOTHING
                    RETURNING event_id, version)
                SELECT count(*) AS appended, max(version) AS version,
                       array_agg(event_id) AS ids
                FROM appended;
WITH t AS (
                INSERT INTO checkout.ledger_transfers (id, kind, reference, debit_type,
                    debit_owner, credit_type, credit_owner, amount, details, created_at)
                SELECT coalesce(t.id, nextval(pg_get_serial_sequence(
                           'checkout.ledger_transfers', 'id'))),
                       t.kind, t.reference, t.debit_type, t.debit_owner, t.credit_type,
                       t.credit_owner, t.amount, t.details, coalesce(:at::timestamptz, now())
                FROM unnest(ARRAY[:entry_id::bigint], ARRAY['checkout_debit'], ARRAY[lpad(to_hex(:tx::bigint), 32, '0')::uuid::text], ARRAY['wallet'], ARRAY[lpad(to_hex(:customer::bigint), 32, '0')::uuid::text],
                            ARRAY['shop_revenue'], ARRAY['mall'], ARRAY[500::bigint], ARRAY[:details::jsonb])
                     AS t(id, kind, reference, debit_type, debit_owner, credit_type,
                          credit_owner, amount, details)
                ON CONFLICT (kind, reference) DO NOTHING
                RETURNING id, debit_type, debit_owner, credit_type, credit_owner, amount),
            e AS (
                INSERT INTO checkout.ledger_entries
                    (transfer_id, side, account_type, owner_id, amount)
                SELECT id, 'debit', debit_type, debit_owner, -amount FROM t
                UNION ALL
                SELECT id, 'credit', credit_type, credit_owner, amount FROM t
                RETURNING account_type, owner_id, amount),
            s AS (
                SELECT account_type, owner_id, sum(amount)::bigint AS amount FROM e
                WHERE account_type = ANY(ARRAY['points', 'wallet'])
                GROUP BY account_type, owner_id HAVING sum(amount) <> 0),
            moved AS (
                INSERT INTO checkout.ledger_accounts AS a (account_type, owner_id, balance,
                                                           updated_at)
                SELECT account_type, owner_id, greatest(amount, 0),
                       coalesce(:at::timestamptz, now())
                FROM s ORDER BY account_type, owner_id
                ON CONFLICT (account_type, owner_id) DO UPDATE
                    SET balance = a.balance + (SELECT s.amount FROM s WHERE (s.account_type,
                                    s.owner_id) = (a.account_type, a.owner_id)),
                        updated_at = greatest(a.updated_at, EXCLUDED.updated_at)
                    WHERE a.balance + (SELECT s.amount FROM s WHERE (s.account_type,
                              s.owner_id) = (a.account_type, a.owner_id)) >= 0
                RETURNING account_type, owner_id, balance, xmax = 0 AS opened)
            SELECT s.account_type, s.owner_id, s.amount, moved.balance, moved.opened
            FROM s LEFT JOIN moved USING (account_type, owner_id);
WITH t AS (
                INSERT INTO checkout.transactions
                    (id, customer_id, total, balance_after, created_at)
                VALUES (lpad(to_hex(:tx::bigint), 32, '0')::uuid, lpad(to_hex(:customer::bigint), 32, '0')::uuid, 500, 99500, :at))
            INSERT INTO checkout.transaction_items
                (transaction_id, product_id, name, unit_price, quantity)
            SELECT lpad(to_hex(:tx::bigint), 32, '0')::uuid, i.product_id, i.name, i.unit_price, i.quantity
            FROM unnest(ARRAY[:product::uuid], ARRAY['Bench tea'], ARRAY[250::bigint], ARRAY[2::int])
                 AS i(product_id, name, unit_price, quantity);
INSERT INTO checkout.events
                    (event_id, stream_id, version, type, data, metadata, occurred_at)
                SELECT e.id, 'transaction-' || lpad(to_hex(:tx::bigint), 32, '0')::uuid, 0 + e.n, e.type, e.data, e.metadata, e.at
                FROM unnest(ARRAY[lpad(to_hex(:event::bigint), 32, '0')::uuid], ARRAY['CHECKOUT_COMPLETED'], ARRAY[:completed::jsonb], ARRAY[:meta::jsonb], ARRAY[:at::timestamptz])
                     WITH ORDINALITY AS e(id, type, data, metadata, at, n);
INSERT INTO checkout.outbox
                (destination, message_id, message_type, body, attributes, available_at, due_at,
                 guard_stream, guard_version)
            SELECT m.destination, m.id, m.type, m.body, m.attributes, t.due,
                   CASE WHEN t.due > now() THEN t.due END, m.guard_stream, m.guard_version
            FROM unnest(ARRAY['reward-jobs'], ARRAY[lpad(to_hex(:event::bigint), 32, '0')::uuid], ARRAY['CHECKOUT_COMPLETED'], ARRAY[:body::jsonb], ARRAY[:attributes::jsonb],
                        ARRAY[0::float8], ARRAY[NULL::timestamptz], ARRAY[NULL::text], ARRAY[NULL::int])
                     WITH ORDINALITY
                     AS m(destination, id, type, body, attributes, delay, at, guard_stream,
                          guard_version, n),
                 LATERAL (SELECT coalesce(m.at, now() + make_interval(secs => m.delay))) AS t(due)
            ORDER BY m.n;
INSERT INTO checkout.reward_handoffs (transaction_id) VALUES (lpad(to_hex(:tx::bigint), 32, '0')::uuid);
UPDATE checkout.idempotency_keys SET status = 201, body = :response WHERE principal = 'customer:' || :customer AND key = 'k' || :key;
COMMIT;
