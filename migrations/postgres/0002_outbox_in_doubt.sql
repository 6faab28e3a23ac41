-- A mail whose send was interrupted (crash, timeout, broken connection) may or
-- may not have been accepted: it is looked up among the Bcc copies in the
-- Sent folder before it is sent again.
ALTER TABLE outbox ADD COLUMN in_doubt BIGINT NOT NULL DEFAULT 0;
