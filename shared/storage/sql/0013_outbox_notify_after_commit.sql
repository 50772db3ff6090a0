-- The outbox no longer notifies from inside the writing transaction: PostgreSQL serialises
-- the commits of all notifying transactions on one lock (WAL flush included), which capped
-- writes across the server. The pool wakes the relays once a writing transaction is over
-- (shared/storage/pool.py): those of its own process directly, the others by a NOTIFY sent
-- outside any transaction.
DROP TRIGGER IF EXISTS outbox_notify ON {schema}.outbox;
DROP FUNCTION IF EXISTS {schema}.outbox_notify();
