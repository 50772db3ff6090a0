-- POST /bookings, statement for statement as booking_api sends them (from PostgreSQL's
-- statement log, log_statement = all). Slot n of client c is uuid(c * 1e9 + start + n);
-- its booking is uuid(slot + 4e18). The pool's reset on release is one round trip.
\set n :n + 1
\set slot :client_id * 1000000000 + :start + :n
\set booking :slot + 4000000000000000000
\set event random(1, 3000000000000000000)
BEGIN;
UPDATE booking.slots SET status = 'held'
            WHERE id = lpad(to_hex(:slot::bigint), 32, '0')::uuid AND status = 'open' AND starts_at > now()
            RETURNING provider_id, starts_at, ends_at, time_zone, now() AS now;
INSERT INTO booking.events
                    (event_id, stream_id, version, type, data, metadata, occurred_at)
                SELECT e.id, 'booking-' || lpad(to_hex(:booking::bigint), 32, '0')::uuid, 0 + e.n, e.type, e.data, e.metadata, e.at
                FROM unnest(ARRAY[lpad(to_hex(:event::bigint), 32, '0')::uuid], ARRAY['BOOKING_CREATED'], ARRAY[:created::jsonb], ARRAY[:meta::jsonb], ARRAY[:at::timestamptz])
                     WITH ORDINALITY AS e(id, type, data, metadata, at, n);
UPDATE booking.slots SET status = 'held', updated_at = :at WHERE id = lpad(to_hex(:slot::bigint), 32, '0')::uuid;
INSERT INTO booking.bookings
                        (id, slot_id, user_id, provider_id, status, notes, starts_at, ends_at,
                         expires_at, created_at, updated_at, version, time_zone)
                    VALUES (lpad(to_hex(:booking::bigint), 32, '0')::uuid, lpad(to_hex(:slot::bigint), 32, '0')::uuid, 'pgbench-user', 'pgbench-' || :slot, 'pending', NULL, :starts, :ends, :starts, :at, :at, 1, NULL);
INSERT INTO booking.provider_requests
                        (booking_id, provider_id, requested_at, waiting_since)
                    VALUES (lpad(to_hex(:booking::bigint), 32, '0')::uuid, 'pgbench-' || :slot, :at, :at);
INSERT INTO booking.outbox
                (destination, message_id, message_type, body, attributes, available_at, due_at,
                 guard_stream, guard_version)
            SELECT m.destination, m.id, m.type, m.body, m.attributes, t.due,
                   CASE WHEN t.due > now() THEN t.due END, m.guard_stream, m.guard_version
            FROM unnest(ARRAY['booking-request'], ARRAY[lpad(to_hex(:event::bigint), 32, '0')::uuid], ARRAY['BOOKING_CREATED'], ARRAY[:body::jsonb], ARRAY[:attributes::jsonb],
                        ARRAY[0::float8], ARRAY[NULL::timestamptz], ARRAY[NULL::text], ARRAY[NULL::int])
                     WITH ORDINALITY
                     AS m(destination, id, type, body, attributes, delay, at, guard_stream,
                          guard_version, n),
                 LATERAL (SELECT coalesce(m.at, now() + make_interval(secs => m.delay))) AS t(due)
            ORDER BY m.n;
SELECT id, slot_id, user_id, provider_id, status, notes, reason, starts_at, ends_at, time_zone, expires_at, created_at, updated_at, version FROM booking.bookings WHERE id = lpad(to_hex(:booking::bigint), 32, '0')::uuid;
COMMIT;
