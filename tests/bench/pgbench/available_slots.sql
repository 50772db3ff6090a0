-- GET /available-slots?provider_id=P as booking_api sends it (statement log): one query,
-- then the pool's reset on release.
SELECT id, provider_id, starts_at, ends_at, time_zone, status FROM booking.slots
            WHERE status = 'open' AND starts_at > now()
              AND (:provider::text IS NULL OR provider_id = :provider)
              AND (NULL::timestamptz IS NULL OR starts_at >= NULL)
              AND (NULL::timestamptz IS NULL OR starts_at < NULL)
              AND (NULL::timestamptz IS NULL OR (starts_at, id) > (NULL, NULL::uuid))
            ORDER BY starts_at, id LIMIT 51;
SELECT pg_advisory_unlock_all();
