//! Streaming verification: constant memory, one record at a time; reports
//! the first bad sequence number and what is wrong with it.

use super::chain::parse_hash;
use super::{Checkpoint, Hash, Record, SignedCheckpoint, canonical, genesis, link};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::io::BufRead;

/// What is wrong with a log, at its first bad sequence number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "fault", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Fault {
    /// A line is not a record.
    #[error("line {line} is not a trace record: {message}")]
    Malformed {
        /// 1-based line number.
        line: u64,
        /// The parse error.
        message: String,
    },
    /// An event of another tenant.
    #[error("event {seq} belongs to tenant `{tenant}`")]
    WrongTenant {
        /// Its sequence number.
        seq: u64,
        /// The tenant it names.
        tenant: String,
    },
    /// A gap: events are missing.
    #[error("event {seq} is missing (the log continues at {found}): events were removed")]
    Removed {
        /// The first missing sequence number.
        seq: u64,
        /// The next sequence number present.
        found: u64,
    },
    /// A sequence number repeats or goes backwards.
    #[error(
        "event {seq} appears where {expected} was expected: events were reordered or duplicated"
    )]
    OutOfOrder {
        /// The sequence number found.
        seq: u64,
        /// The one expected.
        expected: u64,
    },
    /// The event does not link to its predecessor.
    #[error(
        "event {seq} does not link to event {prev}: an event was inserted, removed or reordered"
    )]
    BrokenLink {
        /// The event.
        seq: u64,
        /// Its predecessor's sequence number.
        prev: u64,
    },
    /// The event's content does not match its hash.
    #[error("event {seq} was changed: its content does not match its hash")]
    Changed {
        /// The event.
        seq: u64,
    },
    /// The chain verifies but does not reach the signed head.
    #[error("event {seq} does not match the signed checkpoint's head: the log was rewritten")]
    HeadMismatch {
        /// The checkpoint's sequence number.
        seq: u64,
    },
    /// The log ends before the checkpoint.
    #[error(
        "the log ends at {last} but the signed checkpoint covers up to {seq}: its tail was truncated"
    )]
    Truncated {
        /// The checkpoint's sequence number.
        seq: u64,
        /// The last event present.
        last: u64,
    },
    /// The checkpoint's signature does not verify with the key.
    #[error("the checkpoint's signature does not verify with the given public key")]
    BadSignature,
    /// The checkpoint is for another tenant.
    #[error("the checkpoint is for tenant `{0}`")]
    CheckpointTenant(String),
}

impl Fault {
    /// The first bad sequence number, where there is one.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Fault::WrongTenant { seq, .. }
            | Fault::Removed { seq, .. }
            | Fault::OutOfOrder { seq, .. }
            | Fault::BrokenLink { seq, .. }
            | Fault::Changed { seq }
            | Fault::HeadMismatch { seq }
            | Fault::Truncated { seq, .. } => Some(*seq),
            _ => None,
        }
    }
}

/// The outcome of verifying a log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// Events verified before the first fault (all, when none).
    pub events: u64,
    /// The last good sequence number.
    pub last_seq: u64,
    /// The head hash after the last good event (hex).
    pub head: String,
    /// The first fault, if any.
    pub fault: Option<Fault>,
}

impl Report {
    /// Whether everything verified.
    pub fn ok(&self) -> bool {
        self.fault.is_none()
    }
}

/// Verifies a tenant's records in sequence order.
#[derive(Debug, Clone)]
pub struct Verifier {
    tenant: String,
    last_seq: u64,
    head: Hash,
    events: u64,
    checkpoint: Option<Checkpoint>,
}

impl Verifier {
    /// A verifier for a log that starts at sequence 1.
    pub fn new(tenant: &str) -> Verifier {
        Verifier::resume(tenant, 0, genesis(tenant))
    }

    /// A verifier for a log whose records start after `last_seq` with
    /// `head` (a log pruned up to a checkpoint).
    pub fn resume(tenant: &str, last_seq: u64, head: Hash) -> Verifier {
        Verifier {
            tenant: tenant.to_owned(),
            last_seq,
            head,
            events: 0,
            checkpoint: None,
        }
    }

    /// Holds the log to a signed checkpoint: the head at its sequence number
    /// must match, and the log must reach it.
    pub fn expect(&mut self, cp: &SignedCheckpoint, key: &VerifyingKey) -> Result<(), Fault> {
        if !cp.verify(key) {
            return Err(Fault::BadSignature);
        }
        if cp.checkpoint.tenant != self.tenant {
            return Err(Fault::CheckpointTenant(cp.checkpoint.tenant.clone()));
        }
        self.checkpoint = Some(cp.checkpoint.clone());
        Ok(())
    }

    /// Checks the next record and advances.
    pub fn push(&mut self, rec: &Record) -> Result<(), Fault> {
        let e = &rec.event;
        let bytes = canonical("event", e).map_err(|_| Fault::Changed { seq: e.seq })?;
        self.push_parts(&e.tenant, e.seq, &rec.prev, &rec.hash, &bytes)
    }

    /// Checks the next record given as its parts: the event's canonical
    /// bytes as stored or exported, and the tenant and sequence number read
    /// from them.
    pub fn push_parts(
        &mut self,
        tenant: &str,
        seq: u64,
        prev: &str,
        hash: &str,
        event_bytes: &[u8],
    ) -> Result<(), Fault> {
        let expected = self.last_seq + 1;
        if tenant != self.tenant {
            return Err(Fault::WrongTenant {
                seq,
                tenant: tenant.to_owned(),
            });
        }
        if seq > expected {
            return Err(Fault::Removed {
                seq: expected,
                found: seq,
            });
        }
        if seq < expected {
            return Err(Fault::OutOfOrder { seq, expected });
        }
        if parse_hash(prev).ok() != Some(self.head) {
            return Err(Fault::BrokenLink {
                seq,
                prev: self.last_seq,
            });
        }
        let computed = link(&self.head, event_bytes);
        if parse_hash(hash).ok() != Some(computed) {
            return Err(Fault::Changed { seq });
        }
        if let Some(cp) = &self.checkpoint
            && cp.seq == seq
            && parse_hash(&cp.head).ok() != Some(computed)
        {
            return Err(Fault::HeadMismatch { seq });
        }
        self.last_seq = seq;
        self.head = computed;
        self.events += 1;
        Ok(())
    }

    /// The report after the last record; `fault` is the first one met.
    pub fn finish(self, fault: Option<Fault>) -> Report {
        let truncated = match &self.checkpoint {
            Some(cp) if cp.seq > self.last_seq => Some(Fault::Truncated {
                seq: cp.seq,
                last: self.last_seq,
            }),
            _ => None,
        };
        let fault = fault.or(truncated);
        Report {
            events: self.events,
            last_seq: self.last_seq,
            head: hex::encode(self.head),
            fault,
        }
    }
}

/// An export line, borrowed: the event stays raw text.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecord<'a> {
    prev: &'a str,
    hash: &'a str,
    #[serde(borrow)]
    event: &'a RawValue,
}

/// The fields of an event the verifier reads; the rest is only hashed.
#[derive(Deserialize)]
struct EventHead<'a> {
    #[serde(borrow)]
    tenant: Cow<'a, str>,
    seq: u64,
}

/// Reads `tenant` and `seq` from an event's canonical JSON.
pub fn event_head(event: &str) -> Result<(String, u64), String> {
    serde_json::from_str::<EventHead>(event)
        .map(|h| (h.tenant.into_owned(), h.seq))
        .map_err(|e| e.to_string())
}

/// Verifies an NDJSON export (one [`Record`] per line, as
/// [`Record::to_line`] writes it) of `tenant`'s log, optionally against a
/// signed checkpoint. Reads line by line; each event is hashed as the exact
/// bytes of its line, so an export must carry them canonically.
pub fn verify_ndjson(
    reader: impl BufRead,
    tenant: &str,
    checkpoint: Option<(&SignedCheckpoint, &VerifyingKey)>,
) -> Report {
    let mut v = Verifier::new(tenant);
    if let Some((cp, key)) = checkpoint
        && let Err(f) = v.expect(cp, key)
    {
        return v.finish(Some(f));
    }
    let mut fault = None;
    for (i, line) in reader.lines().enumerate() {
        let line_no = i as u64 + 1;
        let line = match line {
            Ok(l) => l,
            Err(e) => {
                fault = Some(Fault::Malformed {
                    line: line_no,
                    message: e.to_string(),
                });
                break;
            }
        };
        if line.trim().is_empty() {
            continue;
        }
        // The event is hashed as the exact bytes of the line (exports carry
        // canonical bytes); only `tenant` and `seq` are parsed out of it.
        let parsed = serde_json::from_str::<RawRecord>(&line)
            .and_then(|r| serde_json::from_str::<EventHead>(r.event.get()).map(|h| (r, h)));
        let (rec, head) = match parsed {
            Ok(p) => p,
            Err(e) => {
                fault = Some(Fault::Malformed {
                    line: line_no,
                    message: e.to_string(),
                });
                break;
            }
        };
        if let Err(f) = v.push_parts(
            &head.tenant,
            head.seq,
            rec.prev,
            rec.hash,
            rec.event.get().as_bytes(),
        ) {
            fault = Some(f);
            break;
        }
    }
    v.finish(fault)
}

#[cfg(test)]
mod tests;
