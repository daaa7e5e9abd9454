//! Retention in a hash chain: pruning removes an expired event's content
//! but keeps its place (sequence number, class, time, hashes) as a
//! tombstone, and records a `pruning` event saying under which policy, up
//! to which checkpointed sequence number, and how many events in all have
//! been pruned. A verifier accepts tombstones only as far as the last
//! pruning event accounts for them; any other missing content is tampering.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use super::EventClass;

/// Kind of the event a pruning run appends.
pub const PRUNING_KIND: &str = "pruning";

/// What is left of a pruned event: its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Tombstone {
    /// The tenant.
    pub tenant: String,
    /// Its sequence number.
    pub seq: u64,
    /// When it was appended (Unix ms).
    pub at_ms: i64,
    /// Its retention class.
    pub class: EventClass,
    /// Its kind.
    pub kind: String,
}

/// The body of a `pruning` event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PruningRecord {
    /// The retention policy applied, e.g. `financial=2555d,read-only=90d`.
    pub policy: String,
    /// Only events up to this sequence number (a signed checkpoint's) were eligible.
    pub through_seq: u64,
    /// Events whose content this run removed.
    pub pruned: u64,
    /// Events pruned in this log so far, this run included.
    pub pruned_total: u64,
    /// Per class: events appended before this time (Unix ms) had expired.
    pub cutoffs: BTreeMap<String, i64>,
}

/// One export line of a tombstone, as `warden trace export` writes it.
pub fn tombstone_line(prev: &str, hash: &str, t: &Tombstone) -> String {
    let body = serde_json::to_string(t).unwrap_or_default();
    format!("{{\"prev\":\"{prev}\",\"hash\":\"{hash}\",\"pruned\":{body}}}")
}
