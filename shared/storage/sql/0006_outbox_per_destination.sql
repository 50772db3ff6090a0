-- One event may leave through several destinations (one outbox row each), so the message id
-- is unique per destination rather than across the whole outbox.
ALTER TABLE {schema}.outbox DROP CONSTRAINT outbox_message_id_key;
ALTER TABLE {schema}.outbox ADD CONSTRAINT outbox_destination_message_id_key
    UNIQUE (destination, message_id);
