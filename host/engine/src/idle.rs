//! The fleet-wide bound on idle reused instances. Each composition in
//! `reuse` isolation keeps idle instances of its packs; across thousands of
//! tenants they would fill the pooling allocator (every idle instance holds
//! a slot), until new decisions and compositions could not instantiate at
//! all. The engine bounds them together instead: past
//! [`crate::EngineConfig::max_idle_instances`], an idle instance of the
//! least recently used pool is dropped (CLOCK: each pool has a used bit,
//! set on every take and give-back; the hand clears bits and evicts from
//! the first pool whose bit was already clear). A decision that finds its
//! pool empty instantiates afresh, as `fresh` isolation always does; and an
//! instantiation that finds no free slot gives up idle instances until one
//! is free, so idle pools never starve a decision or a new composition.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// One composition's idle instances of one pack.
pub(crate) struct Idle<T> {
    pub instances: Mutex<Vec<T>>,
    used: AtomicBool,
}

impl<T> Idle<T> {
    pub fn touch(&self) {
        self.used.store(true, Ordering::Relaxed);
    }
}

/// Every pool's idle instances, bounded together.
pub(crate) struct IdleBudget<T> {
    max: usize,
    total: AtomicUsize,
    ring: Mutex<Ring<T>>,
}

struct Ring<T> {
    pools: Vec<Weak<Idle<T>>>,
    hand: usize,
}

impl<T> Default for Ring<T> {
    fn default() -> Self {
        Ring {
            pools: Vec::new(),
            hand: 0,
        }
    }
}

impl<T> IdleBudget<T> {
    pub fn new(max: usize) -> IdleBudget<T> {
        IdleBudget {
            max,
            total: AtomicUsize::new(0),
            ring: Mutex::new(Ring::default()),
        }
    }

    /// A new pool, registered for eviction.
    pub fn register(&self) -> Arc<Idle<T>> {
        let idle = Arc::new(Idle {
            instances: Mutex::new(Vec::new()),
            used: AtomicBool::new(true),
        });
        if let Ok(mut r) = self.ring.lock() {
            r.pools.push(Arc::downgrade(&idle));
        }
        idle
    }

    /// Idle instances across every pool.
    pub fn total(&self) -> usize {
        self.total.load(Ordering::Relaxed)
    }

    pub fn taken(&self) {
        self.total.fetch_sub(1, Ordering::Relaxed);
    }

    pub fn dropped(&self, n: usize) {
        self.total.fetch_sub(n, Ordering::Relaxed);
    }

    /// One more idle instance; past the bound, one is evicted elsewhere
    /// (or, failing that, from `own`).
    pub fn added(&self, own: &Arc<Idle<T>>) {
        if self.total.fetch_add(1, Ordering::Relaxed) < self.max {
            return;
        }
        let victim = self.evict_one(Some(own)).or_else(|| pop(own));
        if let Some(v) = victim {
            self.total.fetch_sub(1, Ordering::Relaxed);
            drop(v);
        }
    }

    /// Drops one idle instance of any pool (least recently used first);
    /// `false` when none is idle.
    pub fn evict_any(&self) -> bool {
        let mut victim = self.evict_one(None);
        if victim.is_none() {
            // Every pool was used since the hand passed: take any.
            victim = self.ring.lock().ok().and_then(|r| {
                r.pools
                    .iter()
                    .filter_map(Weak::upgrade)
                    .find_map(|p| pop(&p))
            });
        }
        match victim {
            Some(v) => {
                self.total.fetch_sub(1, Ordering::Relaxed);
                drop(v);
                true
            }
            None => false,
        }
    }

    /// The CLOCK hand's victim, never from `spare`.
    fn evict_one(&self, spare: Option<&Arc<Idle<T>>>) -> Option<T> {
        let mut r = self.ring.lock().ok()?;
        let mut steps = 2 * r.pools.len();
        while steps > 0 && !r.pools.is_empty() {
            steps -= 1;
            if r.hand >= r.pools.len() {
                r.hand = 0;
            }
            let i = r.hand;
            let Some(p) = r.pools[i].upgrade() else {
                r.pools.swap_remove(i);
                continue;
            };
            r.hand += 1;
            if spare.is_some_and(|own| Arc::ptr_eq(&p, own))
                || p.used.swap(false, Ordering::Relaxed)
            {
                continue;
            }
            if let Some(v) = pop(&p) {
                return Some(v);
            }
        }
        None
    }
}

fn pop<T>(p: &Idle<T>) -> Option<T> {
    p.instances.lock().ok()?.pop()
}
