-- GET /available-slots?provider_id=P as booking_api sends it (statement log): one query,
-- with only the filter given in its WHERE clause, then the pool's reset on release.
SELECT id, provider_id, starts_at, ends_at, time_zone, status FROM booking.slots
            WHERE status = 'open' AND starts_at > now() AND provider_id = :provider
            ORDER BY starts_at, id LIMIT 51;
