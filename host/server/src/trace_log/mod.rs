//! The trace log's operations on the server: decision and admin events
//! (`events`, masked by `masking`), the group-commit `appender`,
//! checkpoints (`checkpointer`) over verified history only (`integrity`),
//! `anchors` outside the database, retention (`pruner`), `replay` and
//! `what_if`, the fleet's own log (`fleet_log`), and the per-tenant
//! `settings` of all of these. The pure core (chain, canonical bytes,
//! verifier) is `warden-trace` ([`crate::trace`]); storage is the store's.

pub mod anchors;
pub mod appender;
pub mod checkpointer;
pub mod events;
pub mod fleet_log;
pub mod integrity;
pub mod masking;
pub mod pruner;
pub mod replay;
pub mod settings;
pub mod what_if;
