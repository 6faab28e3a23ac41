-- Who is trying a message now, and until when: an instance skips what
-- another live instance holds, so two instances working one mailbox count
-- one attempt, not two. A crashed instance's hold simply runs out.
-- Taker 0 is nobody: rows from before this migration are free.
ALTER TABLE intake_attempts ADD COLUMN taker BIGINT NOT NULL DEFAULT 0;
ALTER TABLE intake_attempts ADD COLUMN held_until BIGINT NOT NULL DEFAULT 0;
