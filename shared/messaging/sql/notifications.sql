-- Notifications (the in-app channel) and their deliveries through the other channels,
-- as expected by shared.messaging.notifications. A service that sends notifications links
-- this file into its own migrations folder; the runner puts its schema in for {schema}.
CREATE TABLE {schema}.notifications (
    id            uuid PRIMARY KEY,
    event_id      uuid NOT NULL,
    recipient_id  text NOT NULL,
    kind          text NOT NULL,
    subject       text NOT NULL,
    body          text NOT NULL,
    data          jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (event_id, recipient_id)
);
CREATE INDEX notifications_recipient ON {schema}.notifications (recipient_id, created_at DESC);

CREATE TABLE {schema}.deliveries (
    notification_id  uuid NOT NULL REFERENCES {schema}.notifications (id),
    channel          text NOT NULL,
    status           text NOT NULL DEFAULT 'pending'
                     CHECK (status IN ('pending', 'sent', 'failed')),
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    last_error       text,
    sent_at          timestamptz,
    PRIMARY KEY (notification_id, channel)
);
CREATE INDEX deliveries_due ON {schema}.deliveries (next_attempt_at) WHERE status = 'pending';
