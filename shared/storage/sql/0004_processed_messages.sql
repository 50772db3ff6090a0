-- Messages a consumer has applied, recorded in the same transaction as the effect.
CREATE TABLE {schema}.processed_messages (
    consumer      text NOT NULL,
    message_id    uuid NOT NULL,
    processed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, message_id)
);
