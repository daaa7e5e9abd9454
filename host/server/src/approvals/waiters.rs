//! Long-poll waiters: a runtime waiting for an approval's outcome parks on
//! a [`Notify`] for that approval and is woken by the change, never by
//! polling the database. A change committed by this server wakes them
//! directly; one committed by another server arrives as a PostgreSQL
//! notification ([`crate::approvals::feed`]). If the listener loses its connection, every
//! waiter is woken to read the state again, so none sleeps through a change.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::Notify;

/// Waiters by approval id. Cheap to share.
#[derive(Debug, Default)]
pub struct Waiters {
    map: Mutex<HashMap<String, Weak<Notify>>>,
}

impl Waiters {
    /// The wake-up of approval `id`: hold it, call `notified()` and enable
    /// the future before reading the state, then await it.
    pub fn subscribe(&self, id: &str) -> Arc<Notify> {
        let Ok(mut map) = self.map.lock() else {
            return Arc::new(Notify::new());
        };
        if let Some(n) = map.get(id).and_then(Weak::upgrade) {
            return n;
        }
        // Forget approvals nobody waits for any more, now and then.
        if map.len() >= 1024 && map.len().is_power_of_two() {
            map.retain(|_, w| w.strong_count() > 0);
        }
        let n = Arc::new(Notify::new());
        map.insert(id.to_owned(), Arc::downgrade(&n));
        n
    }

    /// Wakes everyone waiting on approval `id`.
    pub fn wake(&self, id: &str) {
        let n = self.map.lock().ok().and_then(|mut m| {
            let n = m.get(id).and_then(Weak::upgrade);
            if n.is_none() {
                m.remove(id);
            }
            n
        });
        if let Some(n) = n {
            n.notify_waiters();
        }
    }

    /// Wakes every waiter (the change feed may have missed something).
    pub fn wake_all(&self) {
        let all: Vec<Arc<Notify>> = match self.map.lock() {
            Ok(m) => m.values().filter_map(Weak::upgrade).collect(),
            Err(_) => return,
        };
        for n in all {
            n.notify_waiters();
        }
    }

    /// How many approvals have waiters now.
    pub fn len(&self) -> usize {
        self.map
            .lock()
            .map(|m| m.values().filter(|w| w.strong_count() > 0).count())
            .unwrap_or(0)
    }

    /// Whether nobody waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
