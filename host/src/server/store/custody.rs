//! Chain of custody: for each log, the head this process knows to extend
//! verified history. It moves when this process verifies a stretch of the
//! log (before signing a checkpoint), and with every append this process
//! chains onto that very head (it hashed those events itself). A head that
//! someone else wrote (another server, or a hand on the database) is not
//! in custody until a verification reads the stretch up to it, so signing
//! a head in custody needs no reads, and signing any other verifies first.
//! Memory: one sequence number and hash per log.

use super::Store;
use crate::trace::{Chain, Hash};
use std::collections::HashMap;
use std::sync::Mutex;

/// Heads in custody, per log.
#[derive(Debug, Default)]
pub(super) struct Custody(Mutex<HashMap<String, (u64, Hash)>>);

impl Custody {
    fn get(&self, log: &str) -> Option<(u64, Hash)> {
        self.0.lock().ok()?.get(log).copied()
    }

    fn set(&self, log: &str, head: (u64, Hash)) {
        if let Ok(mut m) = self.0.lock() {
            m.insert(log.to_owned(), head);
        }
    }

    /// `before` was extended to `after` by this process: if `before` was
    /// in custody, `after` is now.
    pub(super) fn extended(&self, log: &str, before: &Chain, after: &Chain) {
        if let Ok(mut m) = self.0.lock()
            && let Some(h) = m.get_mut(log)
            && *h == (before.last_seq(), *before.head())
        {
            *h = (after.last_seq(), *after.head());
        }
    }
}

impl Store {
    /// The head of `log` this process knows to extend verified history.
    pub fn trace_custody(&self, log: &str) -> Option<(u64, Hash)> {
        self.custody.get(log)
    }

    /// Records that `log`'s history up to `head` was verified.
    pub fn trace_take_custody(&self, log: &str, head: (u64, Hash)) {
        self.custody.set(log, head);
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::trace::{EventClass, genesis};

    fn grow(c: &Chain) -> Chain {
        let mut next = c.clone();
        next.append(1, EventClass::Admin, "x", serde_json::json!({}))
            .unwrap();
        next
    }

    #[test]
    fn custody_follows_only_extensions_of_a_head_in_custody() {
        let custody = Custody::default();
        let a = Chain::new("t");
        let b = grow(&a);
        // Nothing in custody: an append does not create it.
        custody.extended("t", &a, &b);
        assert_eq!(custody.get("t"), None);
        custody.set("t", (0, genesis("t")));
        custody.extended("t", &a, &b);
        assert_eq!(custody.get("t"), Some((b.last_seq(), *b.head())));
        // An append onto some other head (written elsewhere) leaves it.
        let elsewhere = grow(&grow(&a));
        custody.extended("t", &elsewhere, &grow(&elsewhere));
        assert_eq!(custody.get("t"), Some((b.last_seq(), *b.head())));
        assert_eq!(custody.get("u"), None);
    }
}
