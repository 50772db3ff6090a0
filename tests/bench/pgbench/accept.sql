-- POST /providers/{p}/bookings/{id}/accept as booking_api sends it (statement log). It walks
-- the bookings book.sql made, in the same order (same start). Two reminders (24 h and 1 h
-- ahead) are scheduled, as for a slot more than a day away.
\set n :n + 1
\set slot :client_id * 1000000000 + :start + :n
\set booking :slot + 4000000000000000000
\set event random(1, 3000000000000000000)
BEGIN;
SELECT id, slot_id, user_id, provider_id, status, notes, reason, starts_at, ends_at, time_zone, expires_at, created_at, updated_at, version FROM booking.bookings WHERE id = lpad(to_hex(:booking::bigint), 32, '0')::uuid FOR UPDATE;
INSERT INTO booking.events
                    (event_id, stream_id, version, type, data, metadata, occurred_at)
                VALUES (lpad(to_hex(:event::bigint), 32, '0')::uuid, 'booking-' || lpad(to_hex(:booking::bigint), 32, '0')::uuid, 2, 'BOOKING_CONFIRMED', :confirmed::jsonb, :meta::jsonb, :at);
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
            SELECT 'booking-request', lpad(to_hex(:event::bigint), 32, '0')::uuid, 'BOOKING_CONFIRMED', :body::jsonb, :attributes::jsonb, due, CASE WHEN due > now() THEN due END,
                   NULL, NULL
            FROM (SELECT coalesce(NULL::timestamptz, now() + make_interval(secs => 0))) AS t(due);
INSERT INTO booking.outbox
                (destination, message_id, message_type, body, attributes, available_at, due_at,
                 guard_stream, guard_version)
            SELECT 'booking-confirmation', lpad(to_hex(:event::bigint), 32, '0')::uuid, 'BOOKING_CONFIRMED', :body::jsonb, :attributes::jsonb, due, CASE WHEN due > now() THEN due END,
                   NULL, NULL
            FROM (SELECT coalesce(NULL::timestamptz, now() + make_interval(secs => 0))) AS t(due);
SELECT now();
INSERT INTO booking.outbox
                (destination, message_id, message_type, body, attributes, available_at, due_at,
                 guard_stream, guard_version)
            SELECT 'booking-confirmation', lpad(to_hex(:event::bigint + 1), 32, '0')::uuid, 'BOOKING_REMINDER', :body::jsonb, :attributes::jsonb, due, CASE WHEN due > now() THEN due END,
                   'booking-' || lpad(to_hex(:booking::bigint), 32, '0')::uuid, 2
            FROM (SELECT coalesce(:starts::timestamptz, now() + make_interval(secs => 0))) AS t(due);
INSERT INTO booking.outbox
                (destination, message_id, message_type, body, attributes, available_at, due_at,
                 guard_stream, guard_version)
            SELECT 'booking-confirmation', lpad(to_hex(:event::bigint + 2), 32, '0')::uuid, 'BOOKING_REMINDER', :body::jsonb, :attributes::jsonb, due, CASE WHEN due > now() THEN due END,
                   'booking-' || lpad(to_hex(:booking::bigint), 32, '0')::uuid, 2
            FROM (SELECT coalesce(:starts::timestamptz, now() + make_interval(secs => 0))) AS t(due);
SELECT id, slot_id, user_id, provider_id, status, notes, reason, starts_at, ends_at, time_zone, expires_at, created_at, updated_at, version FROM booking.bookings WHERE id = lpad(to_hex(:booking::bigint), 32, '0')::uuid;
COMMIT;
SELECT pg_advisory_unlock_all();
