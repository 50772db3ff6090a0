-- The purge of old processed-message records finds them by age.
CREATE INDEX processed_messages_age ON {schema}.processed_messages (processed_at);
