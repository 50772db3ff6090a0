-- Booking requests of each provider. A row is never deleted: a removed request keeps a
-- tombstone (status 'closed') so that a BOOKING_CREATED arriving after its BOOKING_CANCELLED
-- (SQS does not keep order) cannot bring the request back.
CREATE TABLE provider_inbox.requests (
    booking_id    uuid PRIMARY KEY,
    provider_id   text NOT NULL,
    user_id       text NOT NULL,
    slot_id       uuid NOT NULL,
    starts_at     timestamptz NOT NULL,
    ends_at       timestamptz NOT NULL,
    notes         text,
    expires_at    timestamptz,
    requested_at  timestamptz NOT NULL,
    status        text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'closed')),
    closed_reason text,
    closed_at     timestamptz
);
CREATE INDEX requests_pending ON provider_inbox.requests (provider_id, starts_at)
    WHERE status = 'pending';
