//! Chain of custody: for each log, the head this process knows to extend
//! verified history, and the links this process wrote itself (each append
//! it chained: the head before, the head after). A link was hashed by this
//! process over events it chose, so from a verified head, following this
//! process's own links reaches further verified heads without reading the
//! database; only a stretch someone else wrote (another server, a hand on
//! the database) has to be read and verified. Memory: one head per log and
//! the links since its last verification (bounded).

use super::Store;
use std::collections::HashMap;
use std::sync::Mutex;
use warden_trace::{Chain, Hash};

/// A head: sequence number and hash.
pub type Head = (u64, Hash);

/// Links kept per log at most; beyond, the oldest knowledge is dropped
/// (verification then reads that stretch).
const MAX_LINKS: usize = 65_536;

#[derive(Debug, Default)]
struct Log {
    verified: Option<Head>,
    /// Head hash before an append of this process -> the head after it.
    links: HashMap<Hash, Head>,
}

/// Custody of every log.
#[derive(Debug, Default)]
pub(super) struct Custody(Mutex<HashMap<String, Log>>);

impl Custody {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Log>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// This process appended events after `before`, reaching `after`.
    pub(super) fn extended(&self, log: &str, before: &Chain, after: &Chain) {
        let mut m = self.lock();
        let l = m.entry(log.to_owned()).or_default();
        if l.links.len() >= MAX_LINKS {
            l.links.clear();
        }
        l.links
            .insert(*before.head(), (after.last_seq(), *after.head()));
    }

    /// From `from`, as far as this process's own links reach (never past
    /// sequence number `limit`).
    fn follow(&self, log: &str, from: Head, limit: u64) -> Head {
        let m = self.lock();
        let Some(l) = m.get(log) else {
            return from;
        };
        let mut at = from;
        while let Some(next) = l.links.get(&at.1) {
            if next.0 <= at.0 || next.0 > limit {
                break;
            }
            at = *next;
        }
        at
    }
}

impl Store {
    /// The furthest head of `log` known to extend verified history, given
    /// a verified starting point `from` (a checkpoint): the head in custody
    /// if it is at or past `from`, then as far as this process's own
    /// appends lead, up to `limit`.
    pub fn trace_custody_from(&self, log: &str, from: Head, limit: u64) -> Head {
        let start = {
            let m = self.custody.lock();
            match m.get(log).and_then(|l| l.verified) {
                Some(v) if v.0 >= from.0 && v.0 <= limit => v,
                _ => from,
            }
        };
        self.custody.follow(log, start, limit)
    }

    /// Records that `log`'s history up to `head` was verified; forgets the
    /// links it no longer needs.
    pub fn trace_take_custody(&self, log: &str, head: Head) {
        let mut m = self.custody.lock();
        let l = m.entry(log.to_owned()).or_default();
        l.verified = Some(head);
        l.links.retain(|_, after| after.0 > head.0);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use warden_trace::{EventClass, genesis};

    fn grow(c: &Chain) -> Chain {
        grow_with(c, "ours")
    }

    fn grow_with(c: &Chain, who: &str) -> Chain {
        let mut next = c.clone();
        next.append(1, EventClass::Admin, "x", serde_json::json!({"by": who}))
            .unwrap();
        next
    }

    #[test]
    fn own_links_lead_from_a_verified_head_and_foreign_ones_do_not() {
        let custody = Custody::default();
        let a = Chain::new("t");
        let b = grow(&a);
        let c = grow(&b);
        custody.extended("t", &a, &b);
        custody.extended("t", &b, &c);
        let start = (0, genesis("t"));
        assert_eq!(custody.follow("t", start, 100), (2, *c.head()));
        // Not past the limit asked for.
        assert_eq!(custody.follow("t", start, 1), (1, *b.head()));
        // A head written elsewhere is not reached.
        let elsewhere = grow_with(&grow_with(&a, "forger"), "forger");
        let after = grow(&elsewhere);
        custody.extended("t", &elsewhere, &after);
        assert_eq!(custody.follow("t", start, 100), (2, *c.head()));
        assert_eq!(custody.follow("u", start, 100), start);
    }
}
