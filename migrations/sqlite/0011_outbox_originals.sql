-- A forward that carries the original attachments of the mail a ticket was
-- filed from (a reassign, a re-send to a backup) records that mail's
-- Message-ID; the outbox worker reads the files back from the Handled folder
-- when it sends, so no attachment is stored twice.
ALTER TABLE outbox ADD COLUMN originals TEXT;
