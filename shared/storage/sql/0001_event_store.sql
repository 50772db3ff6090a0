-- Append-only event store. (stream_id, version) is the optimistic-concurrency key:
-- a writer that read version N appends N+1, and a concurrent writer doing the same fails.
CREATE TABLE {schema}.events (
    position     bigserial PRIMARY KEY,
    event_id     uuid NOT NULL UNIQUE,
    stream_id    text NOT NULL,
    version      integer NOT NULL CHECK (version > 0),
    type         text NOT NULL,
    data         jsonb NOT NULL,
    metadata     jsonb NOT NULL DEFAULT '{}'::jsonb,
    occurred_at  timestamptz NOT NULL DEFAULT now(),
    UNIQUE (stream_id, version)
);
