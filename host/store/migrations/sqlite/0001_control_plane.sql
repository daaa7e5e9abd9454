-- Control plane: tenants, pack catalog, fleet layer, rollouts, shadow differences.
-- (Booleans are BIGINT 0/1: the sqlx Any driver does not decode SQLite BOOLEAN.)
-- Times are Unix milliseconds; JSON documents are TEXT.

-- Bumped in the same transaction as every configuration change; servers poll
-- it to drop cached compositions (several servers may share one database).
CREATE TABLE generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO generation (id, value) VALUES (1, 0);

CREATE TABLE tenants (
    id TEXT PRIMARY KEY,
    display_name TEXT NOT NULL,
    disabled BIGINT NOT NULL DEFAULT 0,
    public_key BLOB NOT NULL,
    secret_key BLOB NOT NULL,
    settings TEXT NOT NULL,
    composition TEXT NOT NULL,
    composition_version BIGINT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);

-- Pack bytes, content-addressed.
CREATE TABLE pack_blobs (
    digest TEXT PRIMARY KEY,
    bytes BLOB NOT NULL
);

-- One row per immutable pack version. scope is '*' for fleet-wide packs,
-- else the id of the tenant that owns the private pack.
CREATE TABLE packs (
    scope TEXT NOT NULL,
    name TEXT NOT NULL,
    version TEXT NOT NULL,
    digest TEXT NOT NULL REFERENCES pack_blobs (digest),
    size BIGINT NOT NULL,
    info TEXT NOT NULL,
    publisher TEXT,
    signature TEXT,
    uploaded_ms BIGINT NOT NULL,
    uploaded_by TEXT NOT NULL,
    PRIMARY KEY (scope, name, version)
);

-- The version of each fleet pack that serves tenants outside any rollout.
CREATE TABLE pack_current (
    name TEXT PRIMARY KEY,
    version TEXT NOT NULL
);

-- The fleet override layer, applied to every tenant before its own layers.
CREATE TABLE fleet_layer (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    layer TEXT NOT NULL,
    version BIGINT NOT NULL
);
INSERT INTO fleet_layer (id, layer, version) VALUES (1, '{"name":"fleet","packs":{}}', 0);

CREATE TABLE rollouts (
    id TEXT PRIMARY KEY,
    pack TEXT NOT NULL,
    state TEXT NOT NULL,
    doc TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL
);
-- At most one open (active or paused) rollout per pack.
CREATE UNIQUE INDEX rollouts_one_open ON rollouts (pack) WHERE state IN ('active', 'paused');

-- Decisions where a shadow version disagreed with the enforced one.
CREATE TABLE shadow_diffs (
    id TEXT PRIMARY KEY,
    rollout_id TEXT NOT NULL,
    tenant TEXT NOT NULL,
    request_id TEXT NOT NULL,
    decision_id TEXT NOT NULL,
    enforced TEXT NOT NULL,
    shadow TEXT NOT NULL,
    detail TEXT NOT NULL,
    at_ms BIGINT NOT NULL
);
CREATE INDEX shadow_diffs_by_rollout ON shadow_diffs (rollout_id, id);
