//! Nothing is signed over history that was not verified first. A head is
//! signed only if it is in this process's custody (it was verified, or
//! this process appended it onto a verified head: see the store's
//! `custody`), or else once the stretch of the chain up to it verifies
//! from the stored rows, starting at the furthest verified point: the
//! head in custody, or the previous checkpoint (its signature checked).
//! A single server thus signs its own appends without reading them back,
//! and reads only what others wrote.
//!
//! A stretch that does not verify is not signed: the server counts a
//! refusal (readable for metrics), writes an alarm event,
//! `trace-verification-failed`, to the fleet log (the tenant's own log is
//! the one in doubt), once per log and bad head, and logs a line.

use crate::trace::{Fault, Hash, SignedCheckpoint, genesis, parse_hash};
use crate::trace_log::events::{FLEET_LOG, audit};
use ed25519_dalek::VerifyingKey;
use std::collections::HashSet;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use warden_store::{Store, StoreError};

/// Event kind of the alarm in the fleet log.
pub const ALARM_KIND: &str = "trace-verification-failed";

/// Refusals to sign, and which (log, head) were already reported.
#[derive(Debug, Default)]
pub struct Alarms {
    refused: AtomicU64,
    reported: Mutex<HashSet<(String, String)>>,
}

impl Alarms {
    /// Checkpoints refused because the history under them did not verify,
    /// since the server started.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::Relaxed)
    }

    /// Counts a refusal; `true` the first time this (log, head) is refused.
    fn first_refusal(&self, log: &str, head: &str) -> bool {
        self.refused.fetch_add(1, Ordering::Relaxed);
        match self.reported.lock() {
            Ok(mut seen) => seen.insert((log.to_owned(), head.to_owned())),
            Err(_) => true,
        }
    }
}

/// Why a head may not be signed.
#[derive(Debug, thiserror::Error)]
pub enum Unverified {
    /// The previous checkpoint's signature is not the tenant's.
    #[error("the latest stored checkpoint of `{log}` (sequence {seq}) is not signed by its key")]
    BadCheckpoint {
        /// The log.
        log: String,
        /// The checkpoint's sequence number.
        seq: u64,
    },
    /// The chain since the previous checkpoint does not verify.
    #[error(
        "the trace log of `{log}` does not verify after sequence {from}, the last verified: {fault}"
    )]
    Chain {
        /// The log.
        log: String,
        /// Where verification started.
        from: u64,
        /// The first fault.
        fault: Fault,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Verifies that `(seq, head)` extends `latest` (or the genesis, without
/// a checkpoint) through the stored events, so it may be signed. On a
/// fault the refusal is counted and, once per bad head, written to the
/// fleet log.
pub async fn verify_before_signing(
    store: &Store,
    alarms: &Alarms,
    log: &str,
    latest: Option<&SignedCheckpoint>,
    key: &VerifyingKey,
    (seq, head): (u64, &str),
) -> Result<(), Unverified> {
    let result = check(store, log, latest, key, seq, head).await;
    if let Err(e) = &result
        && !matches!(e, Unverified::Store(_))
    {
        tracing::error!(log = %log, error = %e, "refusing to sign a checkpoint");
        if alarms.first_refusal(log, head) {
            raise(store, log, seq, head, e).await;
        }
    }
    result
}

async fn check(
    store: &Store,
    log: &str,
    latest: Option<&SignedCheckpoint>,
    key: &VerifyingKey,
    seq: u64,
    head: &str,
) -> Result<(), Unverified> {
    let target = parse_hash(head).map_err(|e| {
        Unverified::Store(warden_store::corrupt(&format!("trace head of `{log}`"), e))
    })?;
    let signed: (u64, Hash) = match latest {
        Some(cp) => {
            let c = &cp.checkpoint;
            let bad = || Unverified::BadCheckpoint {
                log: log.to_owned(),
                seq: c.seq,
            };
            if !cp.verify(key) || c.tenant != log {
                return Err(bad());
            }
            (c.seq, parse_hash(&c.head).map_err(|_| bad())?)
        }
        None => (0, genesis(log)),
    };
    // From the furthest verified point: the head in custody past the
    // checkpoint, then along this process's own appends; only what lies
    // beyond is read (the stretch checks that its first row links there).
    let from = store.trace_custody_from(log, signed, seq);
    if from != (seq, target) {
        store
            .trace_verify_stretch(log, from, seq, head)
            .await?
            .map_err(|fault| Unverified::Chain {
                log: log.to_owned(),
                from: from.0,
                fault,
            })?;
    }
    store.trace_take_custody(log, (seq, target));
    Ok(())
}

async fn raise(store: &Store, log: &str, seq: u64, head: &str, e: &Unverified) {
    let detail = serde_json::json!({
        "log": log, "seq": seq, "head": head, "reason": e.to_string(),
        "fault": match e { Unverified::Chain { fault, .. } => serde_json::to_value(fault).ok(), _ => None },
    });
    let appended = match audit(FLEET_LOG, ALARM_KIND, "warden", detail) {
        Ok(a) => store.trace_append(FLEET_LOG, &[a.event]).await.map(|_| ()),
        Err(e) => Err(e),
    };
    if let Err(e) = appended {
        tracing::error!(log = %log, error = %e, "cannot record the verification alarm");
    }
}
