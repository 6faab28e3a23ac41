-- Every message taken from the mailbox, once: the idempotency key of intake.
CREATE TABLE inbound (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    mailbox      TEXT    NOT NULL,
    uidvalidity  BIGINT  NOT NULL,
    uid          BIGINT  NOT NULL,
    message_id   TEXT,
    sender       TEXT    NOT NULL,
    subject      TEXT    NOT NULL,
    kind         TEXT    NOT NULL,
    ticket       TEXT,
    outcome      TEXT    NOT NULL,
    reason       TEXT,
    received_at  BIGINT  NOT NULL,
    UNIQUE (mailbox, uidvalidity, uid)
);
CREATE UNIQUE INDEX inbound_message_id ON inbound (message_id);

CREATE TABLE ticket_counters (
    day   TEXT   PRIMARY KEY,
    last  BIGINT NOT NULL
);

CREATE TABLE tickets (
    number             TEXT    PRIMARY KEY,
    kind               TEXT    NOT NULL,
    status             TEXT    NOT NULL,
    urgency            TEXT    NOT NULL,
    station            TEXT,
    handler            TEXT    NOT NULL,
    subject            TEXT    NOT NULL,
    complaint_no       TEXT,
    category           TEXT,
    customer_name      TEXT,
    phone              TEXT,
    service_order      TEXT,
    fields             TEXT    NOT NULL,
    source_message_id  TEXT,
    received_at        BIGINT  NOT NULL,
    dispatched_at      BIGINT,
    reply_due          BIGINT,
    escalate_at        BIGINT,
    result_due         BIGINT,
    close_due          BIGINT,
    extension_cap      BIGINT,
    first_reply_at     BIGINT,
    result_at          BIGINT,
    closed_at          BIGINT,
    extended           BIGINT  NOT NULL DEFAULT 0,
    valid              BIGINT,
    pre_reported       BIGINT  NOT NULL DEFAULT 0,
    major              BIGINT  NOT NULL DEFAULT 0,
    linked_to          TEXT,
    repeats            BIGINT  NOT NULL DEFAULT 0,
    next_alert_at      BIGINT
);
CREATE INDEX tickets_next_alert ON tickets (next_alert_at) WHERE next_alert_at IS NOT NULL;
CREATE INDEX tickets_service_order ON tickets (service_order);
CREATE INDEX tickets_phone ON tickets (phone);
CREATE INDEX tickets_station_status ON tickets (station, status);

CREATE TABLE outbox (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key              TEXT    NOT NULL UNIQUE,
    ticket           TEXT,
    message_id       TEXT    NOT NULL,
    envelope_from    TEXT    NOT NULL,
    recipients       TEXT    NOT NULL,
    subject          TEXT    NOT NULL,
    body             BYTEA   NOT NULL,
    created_at       BIGINT  NOT NULL,
    next_attempt_at  BIGINT  NOT NULL,
    attempts         BIGINT  NOT NULL DEFAULT 0,
    claimed_until    BIGINT,
    sent_at          BIGINT,
    last_error       TEXT
);
CREATE INDEX outbox_pending ON outbox (next_attempt_at) WHERE sent_at IS NULL;
CREATE INDEX outbox_ticket ON outbox (ticket);

CREATE TABLE events (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket      TEXT    NOT NULL,
    at          BIGINT  NOT NULL,
    kind        TEXT    NOT NULL,
    actor       TEXT,
    message_id  TEXT,
    detail      TEXT
);
CREATE INDEX events_ticket ON events (ticket, at);
