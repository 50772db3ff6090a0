-- Delayed rows and guarded rows.
-- due_at: when a row scheduled for later (available_at in the future when written) falls
--   due; NULL for a row due when written. Backoff moves available_at, never due_at, so the
--   age of the oldest unsent row counts from when it was meant to leave.
-- guard_stream, guard_version: the row is sent only while that event stream is still at
--   that version; once the stream has moved on, the relay marks it superseded instead
--   (superseded_at, with sent_at: the row is done) and never publishes it.
ALTER TABLE {schema}.outbox
    ADD COLUMN due_at timestamptz,
    ADD COLUMN guard_stream text,
    ADD COLUMN guard_version integer,
    ADD COLUMN superseded_at timestamptz,
    ADD CONSTRAINT outbox_guard_whole CHECK ((guard_stream IS NULL) = (guard_version IS NULL));
