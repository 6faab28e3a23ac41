-- A ticket's page (the desk board, `tickets show`) reads the mail taken
-- about it: without this index that was a walk through every message ever
-- taken.
CREATE INDEX inbound_ticket ON inbound (ticket);

-- The board's overview reads the open tickets, in intake order, at every
-- load: a few thousand rows out of all the desk ever had.
CREATE INDEX tickets_open ON tickets (received_at, number) WHERE status <> 'closed';
