-- Poison mail: every attempt at a message is counted, committed before the
-- message is fetched or parsed, so a message that kills the daemon (or never
-- arrives) is recognised on the next attempts and quarantined unparsed.
-- One row per message on the server: two instances increment the same row.
CREATE TABLE intake_attempts (
    mailbox      TEXT    NOT NULL,
    uidvalidity  BIGINT  NOT NULL,
    uid          BIGINT  NOT NULL,
    attempts     BIGINT  NOT NULL,
    last_at      BIGINT  NOT NULL,
    PRIMARY KEY (mailbox, uidvalidity, uid)
);

-- Automatic replies to senders, counted per recipient and hour, so the cap
-- holds across restarts and instances (loops with auto-responders).
CREATE TABLE reply_counts (
    recipient  TEXT    NOT NULL,
    hour       BIGINT  NOT NULL,
    sent       BIGINT  NOT NULL,
    PRIMARY KEY (recipient, hour)
);
