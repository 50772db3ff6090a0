-- POST /providers/{p}/bookings/{id}/accept as booking_api sends it (statement log). It walks
-- the bookings book.sql made, in the same order (same start). Two reminders (24 h and 1 h
-- ahead) are scheduled, as for a slot more than a day away: the four outbox rows are one
-- statement, and the database's clock comes with the lock.
\set n :n + 1
\set slot :client_id * 1000000000 + :start + :n
\set booking :slot + 4000000000000000000
\set event random(1, 3000000000000000000)
BEGIN;
SELECT id, slot_id, user_id, provider_id, status, notes, reason, starts_at, ends_at, time_zone, expires_at, created_at, updated_at, version, now() AS now FROM booking.bookings WHERE id = lpad(to_hex(:booking::bigint), 32, '0')::uuid FOR UPDATE;
INSERT INTO booking.events
                    (event_id, stream_id, version, type, data, metadata, occurred_at)
                SELECT e.id, 'booking-' || lpad(to_hex(:booking::bigint), 32, '0')::uuid, 1 + e.n, e.type, e.data, e.metadata, e.at
                FROM unnest(ARRAY[lpad(to_hex(:event::bigint), 32, '0')::uuid], ARRAY['BOOKING_CONFIRMED'], ARRAY[:confirmed::jsonb], ARRAY[:meta::jsonb], ARRAY[:at::timestamptz])
                     WITH ORDINALITY AS e(id, type, data, metadata, at, n);
UPDATE booking.slots SET status = 'booked', updated_at = :at WHERE id = lpad(to_hex(:slot::bigint), 32, '0')::uuid;
UPDATE booking.bookings
                SET status = 'confirmed', reason = NULL, updated_at = :at, version = 2
                WHERE id = lpad(to_hex(:booking::bigint), 32, '0')::uuid;
INSERT INTO booking.provider_answers
                        (booking_id, version, provider_id, asked_at, answered_at, answer, seconds)
                    SELECT booking_id, 2, provider_id, waiting_since, :at, 'confirmed',
                           greatest(0, extract(epoch FROM :at::timestamptz - waiting_since))
                    FROM booking.provider_requests
                    WHERE booking_id = lpad(to_hex(:booking::bigint), 32, '0')::uuid AND waiting_since IS NOT NULL;
UPDATE booking.provider_requests
                SET outcome = 'confirmed',
                    accepted = accepted OR 'confirmed' = 'confirmed',
                    waiting_since = CASE WHEN 'confirmed' = 'pending' THEN :at::timestamptz END,
                    cancelled_by = NULL
                WHERE booking_id = lpad(to_hex(:booking::bigint), 32, '0')::uuid;
INSERT INTO booking.outbox
                (destination, message_id, message_type, body, attributes, available_at, due_at,
                 guard_stream, guard_version)
            SELECT m.destination, m.id, m.type, m.body, m.attributes, t.due,
                   CASE WHEN t.due > now() THEN t.due END, m.guard_stream, m.guard_version
            FROM unnest(ARRAY['booking-request', 'booking-confirmation', 'booking-confirmation', 'booking-confirmation'], ARRAY[lpad(to_hex(:event::bigint), 32, '0')::uuid, lpad(to_hex(:event::bigint), 32, '0')::uuid, lpad(to_hex(:event::bigint + 1), 32, '0')::uuid, lpad(to_hex(:event::bigint + 2), 32, '0')::uuid], ARRAY['BOOKING_CONFIRMED', 'BOOKING_CONFIRMED', 'BOOKING_REMINDER', 'BOOKING_REMINDER'], ARRAY[:body::jsonb, :body::jsonb, :body::jsonb, :body::jsonb], ARRAY[:attributes::jsonb, :attributes::jsonb, :attributes::jsonb, :attributes::jsonb],
                        ARRAY[0::float8, 0, 0, 0], ARRAY[NULL::timestamptz, NULL, :starts::timestamptz, :starts::timestamptz], ARRAY[NULL::text, NULL, 'booking-' || lpad(to_hex(:booking::bigint), 32, '0')::uuid, 'booking-' || lpad(to_hex(:booking::bigint), 32, '0')::uuid], ARRAY[NULL::int, NULL, 2, 2])
                     WITH ORDINALITY
                     AS m(destination, id, type, body, attributes, delay, at, guard_stream,
                          guard_version, n),
                 LATERAL (SELECT coalesce(m.at, now() + make_interval(secs => m.delay))) AS t(due)
            ORDER BY m.n;
SELECT id, slot_id, user_id, provider_id, status, notes, reason, starts_at, ends_at, time_zone, expires_at, created_at, updated_at, version FROM booking.bookings WHERE id = lpad(to_hex(:booking::bigint), 32, '0')::uuid;
COMMIT;
