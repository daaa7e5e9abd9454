-- Decision events are JSON of 1-2 KiB; rows past PostgreSQL's ~2 KiB toast
-- threshold get compressed on insert, with pglz by default, which showed as
-- the largest cost of PostgreSQL's share of a durable decision
-- (BENCHMARKS.md). lz4 compresses several times faster at a similar ratio.
-- A server built without lz4 keeps pglz: same data, slower inserts.
DO $$
BEGIN
    ALTER TABLE trace_events ALTER COLUMN event SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
    RAISE NOTICE 'lz4 is not available; trace events stay compressed with pglz';
END $$;
