-- Transactional outbox: rows are written with the state change and published by the relay.
CREATE TABLE {schema}.outbox (
    id            bigserial PRIMARY KEY,
    destination   text NOT NULL,
    message_id    uuid NOT NULL UNIQUE,
    message_type  text NOT NULL,
    body          jsonb NOT NULL,
    attributes    jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    available_at  timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0,
    last_error    text,
    sent_at       timestamptz
);
CREATE INDEX outbox_unsent ON {schema}.outbox (available_at, id) WHERE sent_at IS NULL;

CREATE FUNCTION {schema}.outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{schema}_outbox', '');
    RETURN NULL;
END $$;

CREATE TRIGGER outbox_notify AFTER INSERT ON {schema}.outbox
    FOR EACH STATEMENT EXECUTE FUNCTION {schema}.outbox_notify();
