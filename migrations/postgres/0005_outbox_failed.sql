-- A mail the outbox gave up on (a permanent refusal, or too many attempts) is
-- a state of its own, not a retry years away: it is no longer pending, and
-- the operator sees when it failed.
ALTER TABLE outbox ADD COLUMN failed_at BIGINT;
UPDATE outbox SET failed_at = created_at WHERE sent_at IS NULL AND last_error LIKE 'gave up: %';
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (next_attempt_at, claimed_until) WHERE sent_at IS NULL AND failed_at IS NULL;
