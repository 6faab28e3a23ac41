-- Indexes that keep the work per mail constant as the tables grow.

-- The claim and the outbox's wake-up time read the lease from the index:
-- checking it in the rows, which hold whole mails, read every pending mail
-- on each claim (17 ms a claim with 10 000 queued, on SQLite).
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (next_attempt_at, claimed_until) WHERE sent_at IS NULL;

-- A new complaint looks for an open ticket or a pre-report of its station
-- about the same service order or phone: with the station in these indexes
-- that is a lookup, not a walk through every ticket of the station.
DROP INDEX tickets_service_order;
DROP INDEX tickets_phone;
CREATE INDEX tickets_service_order ON tickets (service_order, station);
CREATE INDEX tickets_phone ON tickets (phone, station);
