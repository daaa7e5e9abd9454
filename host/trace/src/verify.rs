//! Streaming verification: constant memory, one record at a time; reports
//! the first bad sequence number and what is wrong with it.

use super::chain::parse_hash;
use super::pruning::{PRUNING_KIND, PruningRecord, Tombstone};
use super::{Checkpoint, Hash, Record, SignedCheckpoint, canonical, genesis, link};
use ed25519_dalek::VerifyingKey;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;

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
    /// An event's content is gone and no pruning event accounts for it.
    #[error(
        "event {seq}'s content was removed but no pruning event accounts for it: the log was tampered with"
    )]
    Unaccounted {
        /// The first such event.
        seq: u64,
    },
    /// More or fewer events are pruned than the last pruning event records.
    #[error(
        "the pruning event at {seq} records {recorded} pruned events in all, but {found} are pruned: the log was tampered with"
    )]
    PruningMismatch {
        /// The last pruning event.
        seq: u64,
        /// What it records.
        recorded: u64,
        /// Tombstones found.
        found: u64,
    },
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
            | Fault::Truncated { seq, .. }
            | Fault::Unaccounted { seq }
            | Fault::PruningMismatch { seq, .. } => Some(*seq),
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
    /// Retention's mark on the log, when events were pruned under policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pruned: Option<Pruned>,
}

/// "Pruned under policy P through sequence N": what retention removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Pruned {
    /// The policy of the last pruning run.
    pub policy: String,
    /// Its checkpointed bound.
    pub through_seq: u64,
    /// Events whose content was removed (tombstones verified).
    pub events: u64,
}

impl std::fmt::Display for Pruned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} events pruned under policy `{}` through sequence {}",
            self.events, self.policy, self.through_seq
        )
    }
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
    /// Checkpoints still ahead, highest sequence number first.
    checkpoints: Vec<Checkpoint>,
    /// The highest checkpoint held to.
    last_checkpoint: Option<u64>,
    tombstones: u64,
    first_tombstone: Option<u64>,
    last_tombstone: u64,
    /// (event seq, record) of the last pruning event.
    pruning: Option<(u64, PruningRecord)>,
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
            checkpoints: Vec::new(),
            last_checkpoint: None,
            tombstones: 0,
            first_tombstone: None,
            last_tombstone: 0,
            pruning: None,
        }
    }

    /// Holds the log to a signed checkpoint: the head at its sequence number
    /// must match, and the log must reach it. Call once per checkpoint (an
    /// anchor file holds many); each is checked where the log passes it.
    pub fn expect(&mut self, cp: &SignedCheckpoint, key: &VerifyingKey) -> Result<(), Fault> {
        if !cp.verify(key) {
            return Err(Fault::BadSignature);
        }
        if cp.checkpoint.tenant != self.tenant {
            return Err(Fault::CheckpointTenant(cp.checkpoint.tenant.clone()));
        }
        let c = cp.checkpoint.clone();
        self.last_checkpoint = Some(self.last_checkpoint.unwrap_or(0).max(c.seq));
        if c.seq <= self.last_seq {
            // Already passed (a checkpoint older than where verification resumed).
            return Ok(());
        }
        self.checkpoints.push(c);
        self.checkpoints.sort_by_key(|c| std::cmp::Reverse(c.seq));
        self.checkpoints
            .dedup_by(|a, b| a.seq == b.seq && a.head == b.head);
        Ok(())
    }

    /// [`Verifier::expect`] for each checkpoint, all signed by `key`; with
    /// checkpoints but no key, `bad-signature`.
    pub fn expect_all(
        &mut self,
        checkpoints: &[SignedCheckpoint],
        key: Option<&VerifyingKey>,
    ) -> Result<(), Fault> {
        for cp in checkpoints {
            self.expect(cp, key.ok_or(Fault::BadSignature)?)?;
        }
        Ok(())
    }

    /// Checks the next record and advances.
    pub fn push(&mut self, rec: &Record) -> Result<(), Fault> {
        let e = &rec.event;
        let bytes = canonical("event", e).map_err(|_| Fault::Changed { seq: e.seq })?;
        self.push_parts(&e.tenant, e.seq, &rec.prev, &rec.hash, &bytes)
    }

    /// Checks the next stored or exported event given as its canonical text:
    /// reads its tenant, sequence number and kind, checks it, and takes
    /// note of pruning events.
    pub fn push_event(&mut self, prev: &str, hash: &str, event: &str) -> Result<(), Fault> {
        let head = EventHead::read(event).map_err(|e| Fault::Malformed {
            line: self.last_seq + 1,
            message: e.to_string(),
        })?;
        self.push_parts(&head.tenant, head.seq, prev, hash, event.as_bytes())?;
        if head.kind.as_deref() == Some(PRUNING_KIND) {
            let p: PruningEvent = serde_json::from_str(event).map_err(|e| Fault::Malformed {
                line: head.seq,
                message: format!("pruning event: {e}"),
            })?;
            self.pruning = Some((head.seq, p.body));
        }
        Ok(())
    }

    /// Checks a tombstone: its place in the chain (tenant, order, link) is
    /// checked; its hash is taken as stored, since the content it covered
    /// is gone; the next event's link and the signed checkpoints vouch for it.
    pub fn push_tombstone(&mut self, prev: &str, hash: &str, t: &Tombstone) -> Result<(), Fault> {
        let expected = self.last_seq + 1;
        if t.tenant != self.tenant {
            return Err(Fault::WrongTenant {
                seq: t.seq,
                tenant: t.tenant.clone(),
            });
        }
        if t.seq > expected {
            return Err(Fault::Removed {
                seq: expected,
                found: t.seq,
            });
        }
        if t.seq < expected {
            return Err(Fault::OutOfOrder {
                seq: t.seq,
                expected,
            });
        }
        if parse_hash(prev).ok() != Some(self.head) {
            return Err(Fault::BrokenLink {
                seq: t.seq,
                prev: self.last_seq,
            });
        }
        let Ok(h) = parse_hash(hash) else {
            return Err(Fault::Changed { seq: t.seq });
        };
        self.held_to_checkpoints(t.seq, &h)?;
        self.last_seq = t.seq;
        self.head = h;
        self.events += 1;
        self.tombstones += 1;
        self.first_tombstone.get_or_insert(t.seq);
        self.last_tombstone = t.seq;
        Ok(())
    }

    /// Checks the head at `seq` against every checkpoint for that sequence number.
    fn held_to_checkpoints(&mut self, seq: u64, head: &Hash) -> Result<(), Fault> {
        while let Some(cp) = self.checkpoints.last() {
            if cp.seq != seq {
                break;
            }
            if parse_hash(&cp.head).ok() != Some(*head) {
                return Err(Fault::HeadMismatch { seq });
            }
            self.checkpoints.pop();
        }
        Ok(())
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
        let prev = parse_hash(prev).ok();
        let computed = prev.map(|p| link(&p, event_bytes));
        self.push_hashed(tenant, seq, prev, parse_hash(hash).ok(), computed)
    }

    /// [`Verifier::push_parts`] with the hashes already parsed (`None`:
    /// not a hash) and the link already computed as `SHA-256(prev || event
    /// bytes)`: parsing and hashing can then run on other threads while the
    /// order is checked here.
    pub fn push_hashed(
        &mut self,
        tenant: &str,
        seq: u64,
        prev: Option<Hash>,
        hash: Option<Hash>,
        computed: Option<Hash>,
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
        let Some(computed) = computed.filter(|_| prev == Some(self.head)) else {
            return Err(Fault::BrokenLink {
                seq,
                prev: self.last_seq,
            });
        };
        if hash != Some(computed) {
            return Err(Fault::Changed { seq });
        }
        self.held_to_checkpoints(seq, &computed)?;
        self.last_seq = seq;
        self.head = computed;
        self.events += 1;
        Ok(())
    }

    /// Takes note of a pruning event that verified at `seq`.
    pub(super) fn note_pruning(&mut self, seq: u64, record: PruningRecord) {
        self.pruning = Some((seq, record));
    }

    /// The report after the last record; `fault` is the first one met.
    pub fn finish(self, fault: Option<Fault>) -> Report {
        let truncated = match self.last_checkpoint {
            Some(seq) if seq > self.last_seq => Some(Fault::Truncated {
                seq,
                last: self.last_seq,
            }),
            _ => None,
        };
        let fault = fault.or(truncated);
        let (accounting, pruned) = self.accounting();
        Report {
            events: self.events,
            last_seq: self.last_seq,
            head: super::hash_hex(&self.head),
            fault: fault.or(accounting),
            pruned,
        }
    }

    /// Whether the tombstones seen are exactly those pruning accounts for.
    fn accounting(&self) -> (Option<Fault>, Option<Pruned>) {
        match (&self.pruning, self.first_tombstone) {
            (None, None) => (None, None),
            (None, Some(seq)) => (Some(Fault::Unaccounted { seq }), None),
            (Some((seq, p)), first) => {
                let pruned = Pruned {
                    policy: p.policy.clone(),
                    through_seq: p.through_seq,
                    events: self.tombstones,
                };
                if first.is_some() && self.last_tombstone > p.through_seq {
                    return (
                        Some(Fault::Unaccounted {
                            seq: self.last_tombstone,
                        }),
                        Some(pruned),
                    );
                }
                if p.pruned_total != self.tombstones {
                    return (
                        Some(Fault::PruningMismatch {
                            seq: *seq,
                            recorded: p.pruned_total,
                            found: self.tombstones,
                        }),
                        Some(pruned),
                    );
                }
                (None, Some(pruned))
            }
        }
    }
}

/// The fields of an event the verifier reads; the rest is only hashed.
#[derive(Deserialize)]
pub(super) struct EventHead<'a> {
    #[serde(borrow)]
    pub(super) tenant: Cow<'a, str>,
    pub(super) seq: u64,
    #[serde(borrow, default)]
    pub(super) kind: Option<Cow<'a, str>>,
}

impl<'a> EventHead<'a> {
    /// Reads the head of an event's canonical JSON. Canonical order puts
    /// `kind`, `seq` and `tenant` last, after the body: they are read from
    /// the end without scanning the body. Anything not in that exact shape
    /// (escapes in `kind` or `tenant`, other keys, other spacing) is parsed
    /// in full, with the same result. On the fast path the body is hashed
    /// but not checked to be well-formed JSON: the hash is what proves it
    /// is the body that was written.
    pub(super) fn read(text: &'a str) -> Result<EventHead<'a>, String> {
        match Self::from_tail(text) {
            Some(head) => Ok(head),
            None => serde_json::from_str(text).map_err(|e| e.to_string()),
        }
    }

    /// `{"at_ms":...,"kind":"K","seq":N,"tenant":"T"}` with plain K and T.
    fn from_tail(text: &'a str) -> Option<EventHead<'a>> {
        /// A string value without escapes or quotes: read as is.
        fn plain(s: &str) -> Option<&str> {
            (!s.contains(['"', '\\']) && !s.bytes().any(|b| b < 0x20)).then_some(s)
        }
        let rest = text.strip_prefix("{\"at_ms\":")?.strip_suffix("\"}")?;
        let (rest, tenant) = rest.rsplit_once(",\"tenant\":\"")?;
        let tenant = plain(tenant)?;
        let (rest, seq) = rest.rsplit_once(",\"seq\":")?;
        if seq.is_empty() || seq.len() > 20 || !seq.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // JSON numbers have no leading zeros.
        if seq.len() > 1 && seq.starts_with('0') {
            return None;
        }
        let seq: u64 = seq.parse().ok()?;
        let (_, kind) = rest.strip_suffix('"')?.rsplit_once(",\"kind\":\"")?;
        let kind = plain(kind)?;
        Some(EventHead {
            tenant: Cow::Borrowed(tenant),
            seq,
            kind: Some(Cow::Borrowed(kind)),
        })
    }
}

/// A pruning event, for its body.
#[derive(Deserialize)]
pub(super) struct PruningEvent {
    pub(super) body: PruningRecord,
}

/// Reads `tenant` and `seq` from an event's canonical JSON.
pub fn event_head(event: &str) -> Result<(String, u64), String> {
    EventHead::read(event).map(|h| (h.tenant.into_owned(), h.seq))
}

#[cfg(test)]
mod tests;
