-- An urgent ticket's mail goes out before a backlog's: the claim takes the
-- most urgent due mail first (0 urgent, 1 expedited, 2 the rest), each
-- priority earliest due first. The claim asks for one priority at a time,
-- so each is a range of this index, however much is queued for later.
ALTER TABLE outbox ADD COLUMN priority SMALLINT NOT NULL DEFAULT 2;
UPDATE outbox SET priority = CASE t.urgency WHEN 'urgent' THEN 0 WHEN 'expedited' THEN 1 ELSE 2 END
    FROM tickets t WHERE t.number = outbox.ticket AND outbox.sent_at IS NULL;
DROP INDEX outbox_pending;
CREATE INDEX outbox_pending ON outbox (priority, next_attempt_at, claimed_until)
    WHERE sent_at IS NULL AND failed_at IS NULL;
