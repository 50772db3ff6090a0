-- A slot may carry its provider's IANA time zone (times stay UTC); notices show local time.
ALTER TABLE booking.slots ADD COLUMN time_zone text;
ALTER TABLE booking.bookings ADD COLUMN time_zone text;
