-- The relay claims each destination's rows on their own (one loop per destination), in id order.
CREATE INDEX outbox_unsent_destination ON {schema}.outbox (destination, id) WHERE sent_at IS NULL;
