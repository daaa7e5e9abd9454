-- The trace log, continued (see docs/adr/0009-trace-operations.md).

-- Query columns, copied out of each decision event when it is appended (the
-- event text stays the only thing the chain covers). NULL for other events.
ALTER TABLE trace_events ADD COLUMN agent TEXT;
ALTER TABLE trace_events ADD COLUMN tool TEXT;
ALTER TABLE trace_events ADD COLUMN verdict TEXT;
ALTER TABLE trace_events ADD COLUMN decision_id TEXT;
ALTER TABLE trace_events ADD COLUMN request_id TEXT;
-- ' name@version name@version ' of the packs that served (space-delimited).
ALTER TABLE trace_events ADD COLUMN packs TEXT;
-- 1 when retention removed the event's content: the row keeps its sequence
-- number, class, time and hashes so the chain still verifies (a tombstone).
ALTER TABLE trace_events ADD COLUMN pruned BIGINT NOT NULL DEFAULT 0;
CREATE INDEX trace_events_by_decision ON trace_events (tenant, decision_id);
CREATE INDEX trace_events_by_request ON trace_events (tenant, request_id);

-- Effective configurations (composition spec and pack digests) decisions
-- were made under, by content digest: what replay rebuilds.
CREATE TABLE trace_configs (
    tenant TEXT NOT NULL,
    digest TEXT NOT NULL,
    config TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    PRIMARY KEY (tenant, digest)
);

-- Signed checkpoints of each tenant's chain.
CREATE TABLE trace_checkpoints (
    tenant TEXT NOT NULL,
    seq BIGINT NOT NULL,
    head TEXT NOT NULL,
    at_ms BIGINT NOT NULL,
    signature TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
);
