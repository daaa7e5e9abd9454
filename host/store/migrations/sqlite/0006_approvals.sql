-- Approvals (docs/adr/0028-approvals.md). A tenant's approval policy: routing rules and
-- escalation policies, one versioned document per tenant, edited like its composition.
CREATE TABLE approval_policies (
    tenant TEXT PRIMARY KEY REFERENCES tenants (id),
    version BIGINT NOT NULL,
    doc TEXT NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- One approval request per escalated decision. `doc` holds the whole record (the policy it
-- started with, the request as masked, findings, votes, resolution); the columns beside it are
-- what queries and timers select on. Every change is a compare-and-swap on `version`, in the
-- transaction that appends its trace event.
CREATE TABLE approvals (
    id TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    request_id TEXT NOT NULL,
    decision_id TEXT NOT NULL,
    status TEXT NOT NULL,
    -- The current step's deadline while pending; NULL once resolved.
    deadline_ms BIGINT,
    -- Who may vote on the current step: ' user:alice group:finance agent:bot '.
    eligible TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    doc TEXT NOT NULL
);
CREATE INDEX approvals_by_tenant ON approvals (tenant, status, id);
CREATE INDEX approvals_due ON approvals (deadline_ms) WHERE status = 'pending';
