-- Who really sent each message (issue 15): its authentication verdict as
-- JSON (`{"verdict","method","domain","reason"}`), NULL for mail taken
-- before verification existed or read from its header alone.
ALTER TABLE inbound ADD COLUMN auth TEXT;
