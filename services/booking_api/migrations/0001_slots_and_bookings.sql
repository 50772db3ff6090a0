-- Read models of the booking context, projected from booking.events.
CREATE TABLE booking.slots (
    id           uuid PRIMARY KEY,
    provider_id  text NOT NULL,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    status       text NOT NULL CHECK (status IN ('open', 'held', 'booked')),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX slots_open_by_start ON booking.slots (starts_at, id) WHERE status = 'open';
CREATE INDEX slots_by_provider ON booking.slots (provider_id, starts_at);

CREATE TABLE booking.bookings (
    id           uuid PRIMARY KEY,
    slot_id      uuid NOT NULL REFERENCES booking.slots (id),
    user_id      text NOT NULL,
    provider_id  text NOT NULL,
    status       text NOT NULL
                 CHECK (status IN ('pending', 'confirmed', 'rejected', 'cancelled', 'expired')),
    notes        text,
    reason       text,
    starts_at    timestamptz NOT NULL,
    ends_at      timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      integer NOT NULL  -- version of the booking's event stream
);
-- Double booking is impossible: at most one active booking per slot.
CREATE UNIQUE INDEX bookings_one_active_per_slot ON booking.bookings (slot_id)
    WHERE status IN ('pending', 'confirmed');
CREATE INDEX bookings_pending_by_expiry ON booking.bookings (expires_at) WHERE status = 'pending';
CREATE INDEX bookings_by_provider ON booking.bookings (provider_id, created_at DESC, id DESC);
CREATE INDEX bookings_by_user ON booking.bookings (user_id, created_at DESC);
