-- Approval notifications waiting to be delivered (docs/adr/0028-approvals.md): written in the
-- transaction of the change they announce, delivered and retried by every server's worker, which
-- leases a row by moving `next_ms` forward before it posts.
CREATE TABLE approval_outbox (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    approval_id TEXT NOT NULL,
    url TEXT NOT NULL,
    event TEXT NOT NULL,
    body TEXT NOT NULL,
    attempts BIGINT NOT NULL,
    next_ms BIGINT NOT NULL,
    -- 0 pending, 1 delivered, 2 given up.
    state BIGINT NOT NULL,
    last_error TEXT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX approval_outbox_due ON approval_outbox (next_ms) WHERE state = 0;
CREATE INDEX approval_outbox_by_approval ON approval_outbox (tenant, approval_id);
