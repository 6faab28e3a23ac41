-- How each year was counted when deadlines were last computed (a
-- fingerprint of its holiday data, zone and working time), per calendar:
-- `desk`, or `station:CODE` for a station with its own. At start the daemon
-- compares them with the calendar it loaded: a year that changed (a
-- provisional year replaced by the State Council's notice) has its open
-- tickets' deadlines recomputed, once, in the transaction that stores the
-- new fingerprints.
CREATE TABLE calendar_years (
    scope        TEXT    NOT NULL,
    year         BIGINT  NOT NULL,
    fingerprint  BIGINT  NOT NULL,
    PRIMARY KEY (scope, year)
);
