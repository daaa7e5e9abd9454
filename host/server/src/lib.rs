//! # warden-server
//!
//! The control plane (`warden serve`): tenants, the pack catalog, rollouts
//! and decisions over a REST API with JWT auth, stored in SQLite (embedded
//! default) or PostgreSQL, with a tamper-evident trace log per tenant. The
//! engine it runs is `warden-host`'s; the `warden` binary (`warden-cli`)
//! starts it with [`Server`].
#![deny(missing_docs)]

pub mod admission;
pub mod anchors;
pub mod api;
pub mod appender;
pub mod auth;
pub mod checkpointer;
pub mod cpu_time;
pub mod events;
pub mod fleet_log;
pub mod http;
pub mod integrity;
pub mod keys;
pub mod masking;
pub mod pace;
pub mod pruner;
pub mod quarantine;
pub mod replay;
pub mod resolve;
mod serve;
pub mod settings_error;
pub mod state;
pub mod tenant_settings;
pub mod trace_settings;
pub mod what_if;

/// The trace log's core, from `warden-trace`: events, canonical bytes, the
/// hash chain, checkpoints and the verifier.
pub use warden_trace as trace;

pub use api::{openapi, router};

pub use serve::{ServeConfig, ServeError, Server, local_issuer_path, seed_tenant, shutdown_signal};
pub use warden_store::FLEET;
