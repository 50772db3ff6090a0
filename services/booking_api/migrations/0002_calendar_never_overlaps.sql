-- A provider's slots never overlap (touching is fine: ranges are half-open), decided by the
-- database so that concurrent creations cannot both win. A withdrawn slot leaves the calendar.
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE booking.slots DROP CONSTRAINT slots_status_check;
ALTER TABLE booking.slots ADD CONSTRAINT slots_status_check
    CHECK (status IN ('open', 'held', 'booked', 'withdrawn'));
ALTER TABLE booking.slots ADD CONSTRAINT slots_never_overlap
    EXCLUDE USING gist (provider_id WITH =, tstzrange(starts_at, ends_at) WITH &&)
    WHERE (status <> 'withdrawn');
-- The caller's own bookings, newest first (GET /bookings), with a tie-break for the cursor.
DROP INDEX booking.bookings_by_user;
CREATE INDEX bookings_by_user ON booking.bookings (user_id, created_at DESC, id DESC);
