//! # warden-trace
//!
//! The trace log's core: events, their canonical bytes (RFC 8785), the
//! per-tenant hash chain, signed checkpoints, and a streaming verifier that
//! names the first bad sequence number. Pure: no I/O but the readers a caller
//! hands in. Storage, group commit, retention and the API build on this in
//! the control plane (see `docs/adr/0008-trace-chain.md`).
#![deny(missing_docs)]

mod chain;
mod checkpoint;
mod jcs;
mod ndjson;
mod pruning;
mod verify;

pub use chain::{
    Chain, Event, EventClass, GENESIS_TAG, Hash, Record, canonical, genesis, hash_hex, link,
    parse_hash,
};
pub use checkpoint::{Checkpoint, SignedCheckpoint};
pub use ndjson::{verify_ndjson, verify_ndjson_held};
pub use pruning::{PRUNING_KIND, PruningRecord, Tombstone, tombstone_line};
pub use verify::{Fault, Pruned, Report, Verifier, event_head};

/// A trace error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// A value cannot be written as canonical JSON (e.g. a non-finite number).
    #[error("cannot canonicalize `{what}`: {message}")]
    Canonical {
        /// What was being encoded.
        what: &'static str,
        /// The encoder's message.
        message: String,
    },
    /// A hash is not 64 hex digits.
    #[error("`{0}` is not a SHA-256 hash in hex")]
    BadHash(String),
}
