-- Reports (PRODUCT.md §11): each report mailed once per period and recipient,
-- however many instances run and however often they restart.
CREATE TABLE reports (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind        TEXT    NOT NULL,
    period      TEXT    NOT NULL,
    recipient   TEXT    NOT NULL,
    outbox_key  TEXT    NOT NULL,
    created_at  BIGINT  NOT NULL,
    UNIQUE (kind, period, recipient)
);

-- Up to when each report schedule has been looked at: fires after this are
-- due (also those missed while the daemon was down); fires before the first
-- start are not, so a new installation does not mail old periods.
CREATE TABLE report_cursors (
    kind           TEXT    PRIMARY KEY,
    checked_until  BIGINT  NOT NULL
);

-- The assessment reads tickets by month of intake and of closing.
CREATE INDEX tickets_received ON tickets (received_at);
CREATE INDEX tickets_closed ON tickets (closed_at);
