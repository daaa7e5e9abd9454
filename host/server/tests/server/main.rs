//! The control plane through its router, on SQLite and on the local
//! PostgreSQL (each test in its own fresh database).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod admin_log;
mod approval_kit;
mod approvals;
mod approvals_cli;
mod approvals_fleet;
mod approvals_packs;
mod approvals_webhooks;
mod auth;
mod auth_table;
mod bad_input;
mod bad_requests;
mod catalog;
mod compositions;
mod corrupt_rows;
mod edge_table;
mod evaluate;
mod fleet_log;
mod harness;
mod inbox;
mod integrity;
mod openapi;
mod poisoned;
mod quarantine;
mod rollout_holds;
mod rollouts;
mod tenants;
mod trace_ops;
mod trace_query;
mod trace_replay;
mod trace_store;
