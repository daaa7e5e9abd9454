-- The trace log: one hash chain per tenant (see docs/adr/0008-trace-chain.md).

-- Each tenant's last sequence number and head hash; appenders lock this row,
-- so replicas never fork a chain or leave a gap.
CREATE TABLE trace_heads (
    tenant TEXT PRIMARY KEY,
    seq BIGINT NOT NULL,
    head TEXT NOT NULL
);

-- event is the event's canonical JSON (RFC 8785): exactly the bytes hashed.
CREATE TABLE trace_events (
    tenant TEXT NOT NULL,
    seq BIGINT NOT NULL,
    at_ms BIGINT NOT NULL,
    class TEXT NOT NULL,
    kind TEXT NOT NULL,
    event TEXT NOT NULL,
    prev TEXT NOT NULL,
    hash TEXT NOT NULL,
    PRIMARY KEY (tenant, seq)
);
CREATE INDEX trace_events_by_time ON trace_events (tenant, at_ms);
