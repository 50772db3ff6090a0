-- Sent rows are purged after a retention period; this index finds them without a scan.
CREATE INDEX outbox_sent ON {schema}.outbox (sent_at) WHERE sent_at IS NOT NULL;
