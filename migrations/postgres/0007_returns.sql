-- A station's return (退回) stops its clocks until the handler moves the
-- ticket on; a return the handler refuses counts against the station.
ALTER TABLE tickets ADD COLUMN returned_at BIGINT;
ALTER TABLE tickets ADD COLUMN returns_refused BIGINT NOT NULL DEFAULT 0;
-- Once a station's address bounced or said it is away, the ticket's mail
-- also goes to the station's backup contacts.
ALTER TABLE tickets ADD COLUMN backup_at BIGINT;
