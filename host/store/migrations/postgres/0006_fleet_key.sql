-- The fleet log's signing key (the fleet log `_fleet` records pack uploads, the fleet layer,
-- rollout steps and integrity alarms). Made by the first server that checkpoints it; the
-- secret is sealed with the master key, like a tenant's. One row.
CREATE TABLE fleet_key (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    public_key BYTEA NOT NULL,
    secret_key BYTEA NOT NULL,
    created_ms BIGINT NOT NULL
);
