-- Provider analytics, projected from the booking events (never scanned from them).
-- One row per booking request: when it was made and how it ended.
CREATE TABLE booking.provider_requests (
    booking_id     uuid PRIMARY KEY,
    provider_id    text NOT NULL,
    requested_at   timestamptz NOT NULL,
    -- When the request last began waiting for the provider's answer (made or moved); NULL
    -- while no answer is awaited.
    waiting_since  timestamptz,
    accepted       boolean NOT NULL DEFAULT false,  -- ever accepted
    outcome        text NOT NULL DEFAULT 'pending'
                   CHECK (outcome IN ('pending', 'confirmed', 'rejected', 'cancelled', 'expired')),
    cancelled_by   text CHECK (cancelled_by IN ('user', 'provider'))
);
CREATE INDEX provider_requests_by_time ON booking.provider_requests (provider_id, requested_at);

-- Every answer (accept or reject) and how long the provider took: a moved booking is
-- answered again, and that answer counts from the move.
CREATE TABLE booking.provider_answers (
    booking_id     uuid NOT NULL,
    version        integer NOT NULL,  -- of the booking's stream: the answering event
    provider_id    text NOT NULL,
    asked_at       timestamptz NOT NULL,
    answered_at    timestamptz NOT NULL,
    answer         text NOT NULL CHECK (answer IN ('confirmed', 'rejected')),
    seconds        double precision NOT NULL CHECK (seconds >= 0),
    PRIMARY KEY (booking_id, version)
);
CREATE INDEX provider_answers_by_time ON booking.provider_answers (provider_id, asked_at);
