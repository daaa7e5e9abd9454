//! Events and the hash chain: `hash(n) = SHA-256(hash(n-1) || canonical(event n))`,
//! starting from a per-tenant genesis hash.

use super::TraceError;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// A SHA-256 hash.
pub type Hash = [u8; 32];

/// Domain tag of the genesis hash.
pub const GENESIS_TAG: &str = "warden-trace-v1";

/// What retention periods apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventClass {
    /// Decisions on financial actions, and approvals of them.
    Financial,
    /// Decisions on read-only actions.
    ReadOnly,
    /// Decisions on writes, external calls and destructive actions.
    Action,
    /// Configuration: packs, compositions, rollouts, tenants, pruning.
    Admin,
}

impl EventClass {
    /// Every class, in retention-policy order.
    pub const ALL: [EventClass; 4] = [
        EventClass::Financial,
        EventClass::ReadOnly,
        EventClass::Action,
        EventClass::Admin,
    ];
}

/// One event of a tenant's log. Its canonical bytes are what the chain covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Event {
    /// The tenant whose log this is.
    pub tenant: String,
    /// Position in the tenant's log, from 1, contiguous.
    pub seq: u64,
    /// When it was appended (Unix ms).
    pub at_ms: i64,
    /// Retention class.
    pub class: EventClass,
    /// `decision`, `pack-upload`, `composition-change`, `rollout-step`, ...
    pub kind: String,
    /// The event's content (after masking).
    pub body: Value,
}

/// One line of an export: the event with the chain's hashes in hex.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// The previous event's hash (the genesis hash for the first).
    pub prev: String,
    /// `SHA-256(prev || canonical(event))`.
    pub hash: String,
    /// The event.
    pub event: Event,
}

impl Record {
    /// The record as one NDJSON line (without the newline), with the event
    /// written as its canonical bytes, exactly what the hash covers.
    pub fn to_line(&self) -> Result<String, TraceError> {
        let event = canonical("event", &self.event)?;
        let event = String::from_utf8(event).map_err(|e| TraceError::Canonical {
            what: "event",
            message: e.to_string(),
        })?;
        Ok(format!(
            "{{\"prev\":\"{}\",\"hash\":\"{}\",\"event\":{event}}}",
            self.prev, self.hash
        ))
    }
}

/// RFC 8785 canonical JSON of a value.
pub fn canonical<T: Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, TraceError> {
    super::jcs::to_vec(value).map_err(|e| TraceError::Canonical {
        what,
        message: e.to_string(),
    })
}

/// The hash a tenant's chain starts from: `SHA-256("warden-trace-v1" || 0x00 || tenant)`.
/// Different per tenant, so one tenant's events cannot be spliced into another's log.
pub fn genesis(tenant: &str) -> Hash {
    let mut h = Sha256::new();
    h.update(GENESIS_TAG.as_bytes());
    h.update([0]);
    h.update(tenant.as_bytes());
    h.finalize().into()
}

/// `SHA-256(prev || event_bytes)`.
pub fn link(prev: &Hash, event_bytes: &[u8]) -> Hash {
    let mut h = Sha256::new();
    h.update(prev);
    h.update(event_bytes);
    h.finalize().into()
}

/// A hash as 64 lowercase hex digits. Every append writes two (the head
/// before and after); `hex::encode` builds them a `char` at a time through
/// an iterator, several times the work of this table lookup.
pub fn hash_hex(hash: &Hash) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = [0u8; 64];
    for (pair, b) in text.chunks_exact_mut(2).zip(hash) {
        pair[0] = DIGITS[usize::from(b >> 4)];
        pair[1] = DIGITS[usize::from(b & 0x0f)];
    }
    // Always ASCII, so never empty.
    String::from_utf8(text.to_vec()).unwrap_or_default()
}

/// Parses 64 hex digits (either case). Verification parses two per event,
/// so this decodes in place rather than through an allocating decoder.
pub fn parse_hash(hex_text: &str) -> Result<Hash, TraceError> {
    /// Value of each hex digit; 0xff for any other byte.
    const NIBBLE: [u8; 256] = {
        let mut t = [0xffu8; 256];
        let mut i = 0;
        while i < 10 {
            t[b'0' as usize + i] = i as u8;
            i += 1;
        }
        let mut i = 0;
        while i < 6 {
            t[b'a' as usize + i] = 10 + i as u8;
            t[b'A' as usize + i] = 10 + i as u8;
            i += 1;
        }
        t
    };
    let b = hex_text.as_bytes();
    if b.len() != 64 {
        return Err(TraceError::BadHash(hex_text.to_owned()));
    }
    let mut out = [0u8; 32];
    let mut invalid = 0u8;
    for (o, pair) in out.iter_mut().zip(b.chunks_exact(2)) {
        let (hi, lo) = (NIBBLE[pair[0] as usize], NIBBLE[pair[1] as usize]);
        invalid |= hi | lo;
        *o = (hi << 4) | (lo & 0x0f);
    }
    // Valid digits are below 16; one 0xff anywhere sets the high bits.
    if invalid & 0xf0 != 0 {
        return Err(TraceError::BadHash(hex_text.to_owned()));
    }
    Ok(out)
}

/// The head of one tenant's chain: appends events in memory (the store
/// persists the records it returns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    tenant: String,
    last_seq: u64,
    head: Hash,
}

impl Chain {
    /// An empty chain for `tenant`.
    pub fn new(tenant: &str) -> Chain {
        Chain {
            tenant: tenant.to_owned(),
            last_seq: 0,
            head: genesis(tenant),
        }
    }

    /// A chain continuing after `last_seq` with head `head`.
    pub fn resume(tenant: &str, last_seq: u64, head: Hash) -> Chain {
        Chain {
            tenant: tenant.to_owned(),
            last_seq,
            head,
        }
    }

    /// The last sequence number (0 when empty).
    pub fn last_seq(&self) -> u64 {
        self.last_seq
    }

    /// The head hash.
    pub fn head(&self) -> &Hash {
        &self.head
    }

    /// Appends an event whose body is already canonical JSON: the event's
    /// canonical bytes are assembled around it (keys in RFC 8785 order:
    /// `at_ms`, `body`, `class`, `kind`, `seq`, `tenant`), so the body is
    /// never re-encoded under the log's lock. Returns the sequence number,
    /// the previous and new hash (hex) and the event's canonical text.
    pub fn append_canonical(
        &mut self,
        at_ms: i64,
        class: EventClass,
        kind: &str,
        canonical_body: &str,
    ) -> Result<(u64, String, String, String), TraceError> {
        let seq = self.last_seq + 1;
        let class = String::from_utf8(canonical("class", &class)?).unwrap_or_default();
        let kind = String::from_utf8(canonical("kind", &kind)?).unwrap_or_default();
        let tenant = String::from_utf8(canonical("tenant", &self.tenant)?).unwrap_or_default();
        let text = format!(
            "{{\"at_ms\":{at_ms},\"body\":{canonical_body},\"class\":{class},\"kind\":{kind},\"seq\":{seq},\"tenant\":{tenant}}}"
        );
        let hash = link(&self.head, text.as_bytes());
        let prev = hash_hex(&self.head);
        self.last_seq = seq;
        self.head = hash;
        Ok((seq, prev, hash_hex(&hash), text))
    }

    /// Appends an event; returns its record.
    pub fn append(
        &mut self,
        at_ms: i64,
        class: EventClass,
        kind: &str,
        body: Value,
    ) -> Result<Record, TraceError> {
        let event = Event {
            tenant: self.tenant.clone(),
            seq: self.last_seq + 1,
            at_ms,
            class,
            kind: kind.to_owned(),
            body,
        };
        let hash = link(&self.head, &canonical("event", &event)?);
        let record = Record {
            prev: hash_hex(&self.head),
            hash: hash_hex(&hash),
            event,
        };
        self.last_seq += 1;
        self.head = hash;
        Ok(record)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_hex_is_lowercase_hex_and_parses_back() {
        for hash in [[0u8; 32], [0xff; 32], link(&genesis("t"), b"event")] {
            let text = hash_hex(&hash);
            assert_eq!(text, hex::encode(hash));
            assert_eq!(parse_hash(&text).ok(), Some(hash));
        }
    }
}
