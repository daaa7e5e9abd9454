//! # warden-server
//!
//! The control plane (`warden serve`): tenants, the pack catalog, rollouts
//! and decisions over a REST API with JWT auth, stored in SQLite (embedded
//! default) or PostgreSQL, with a tamper-evident trace log per tenant. The
//! engine it runs is `warden-host`'s; the `warden` binary (`warden-cli`)
//! starts it with [`Server`].
//!
//! A folder per domain, each with its own error type: [`tenants`],
//! [`catalog`], [`compositions`], [`rollouts`], [`decisions`],
//! [`approvals`] and [`trace_log`]; [`state`] is what they share (the store, the engine, each
//! tenant's runtime). [`api`] holds the handlers and [`http`] the HTTP
//! layer: problems, extractors, the edge check, the request log, and the
//! one mapping of domain errors to problems. `ARCHITECTURE.md` at the
//! repository root maps the rest.
#![deny(missing_docs)]

pub mod api;
pub mod approvals;
pub mod auth;
pub mod catalog;
pub mod compositions;
pub mod decisions;
pub mod http;
pub mod inbox;
pub mod keys;
pub mod outbound;
pub mod rollouts;
mod serve;
pub mod state;
pub mod tenants;
pub mod trace_log;

/// The trace log's core, from `warden-trace`: events, canonical bytes, the
/// hash chain, checkpoints and the verifier.
pub use warden_trace as trace;

pub use api::{openapi, router};

pub use serve::{ServeConfig, ServeError, Server, local_issuer_path, seed_tenant, shutdown_signal};
pub use warden_store::FLEET;
