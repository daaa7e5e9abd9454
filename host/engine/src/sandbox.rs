//! Running pack code: one capability-free store per instance, with a memory
//! cap and an epoch deadline; and the pool of reusable instances.

use crate::bindings::{Pack as PackBindings, PackPre, wit};
use crate::idle::{Idle, IdleBudget};
use std::sync::Arc;
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder};

/// What running pack code needs of the engine: the wasmtime engine, each
/// store's memory cap and deadline, and the fleet-wide bound on idle
/// instances. The engine owns one.
pub(crate) struct Sandbox {
    pub wasmtime: wasmtime::Engine,
    pub memory_limit: usize,
    pub deadline_ticks: u64,
    pub idle: Arc<IdleBudget<Live>>,
}

/// Per-store state: only the resource limits. No WASI context, so a pack has
/// no capability to call into.
pub(crate) struct StoreState {
    limits: StoreLimits,
}

/// An instantiated pack with its store.
pub(crate) struct Live {
    store: Store<StoreState>,
    bindings: PackBindings,
    /// Completed calls on this instance.
    pub uses: u32,
}

/// What went wrong inside a pack call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CallFailure {
    /// The deadline passed.
    Deadline,
    /// The pack ran out of its memory allowance.
    Memory,
    /// The pack trapped (panic, unreachable, stack overflow, ...).
    Trap(String),
    /// Instantiation failed (for example the instance pool is exhausted).
    Instantiate(String),
}

impl std::fmt::Display for CallFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CallFailure::Deadline => write!(f, "exceeded its deadline"),
            CallFailure::Memory => write!(f, "exceeded its memory limit"),
            CallFailure::Trap(m) => write!(f, "trapped: {m}"),
            CallFailure::Instantiate(m) => write!(f, "could not be instantiated: {m}"),
        }
    }
}

impl Live {
    /// Instantiates a pack in a fresh store. When the engine has no free
    /// instance slot, idle reused instances are given up (least recently
    /// used first) until one is, so an idle pool never starves a decision.
    pub fn new(engine: &Sandbox, pre: &PackPre<StoreState>) -> Result<Live, CallFailure> {
        let mut attempt = Live::instantiate(engine, pre);
        while let Err(CallFailure::Instantiate(_)) = &attempt {
            if !engine.idle.evict_any() {
                break;
            }
            attempt = Live::instantiate(engine, pre);
        }
        attempt
    }

    fn instantiate(engine: &Sandbox, pre: &PackPre<StoreState>) -> Result<Live, CallFailure> {
        let limits = StoreLimitsBuilder::new()
            .memory_size(engine.memory_limit)
            .instances(16)
            .tables(16)
            .memories(4)
            .trap_on_grow_failure(true)
            .build();
        let mut store = Store::new(&engine.wasmtime, StoreState { limits });
        store.limiter(|s| &mut s.limits);
        store.epoch_deadline_trap();
        store.set_epoch_deadline(engine.deadline_ticks);
        let bindings = pre
            .instantiate(&mut store)
            .map_err(|e| classify(&e, true))?;
        Ok(Live {
            store,
            bindings,
            uses: 0,
        })
    }

    fn arm(&mut self, engine: &Sandbox) {
        self.store.set_epoch_deadline(engine.deadline_ticks);
    }

    /// Calls `info`.
    pub fn info(&mut self, engine: &Sandbox) -> Result<wit::PackInfo, CallFailure> {
        self.arm(engine);
        let r = self
            .bindings
            .warden_policy_policy()
            .call_info(&mut self.store)
            .map_err(|e| classify(&e, false));
        self.uses += 1;
        r
    }

    /// Calls `check-settings`.
    pub fn check_settings(
        &mut self,
        engine: &Sandbox,
        settings: &[wit::RuleSettings],
    ) -> Result<Result<(), String>, CallFailure> {
        self.arm(engine);
        let r = self
            .bindings
            .warden_policy_policy()
            .call_check_settings(&mut self.store, settings)
            .map_err(|e| classify(&e, false));
        self.uses += 1;
        r
    }

    /// Calls `evaluate`.
    pub fn evaluate(
        &mut self,
        engine: &Sandbox,
        req: &wit::Request,
        settings: &[wit::RuleSettings],
    ) -> Result<Result<Vec<wit::Finding>, String>, CallFailure> {
        self.arm(engine);
        let r = self
            .bindings
            .warden_policy_policy()
            .call_evaluate(&mut self.store, req, settings)
            .map_err(|e| classify(&e, false));
        self.uses += 1;
        r
    }
}

fn classify(err: &wasmtime::Error, instantiating: bool) -> CallFailure {
    match err.downcast_ref::<wasmtime::Trap>() {
        Some(wasmtime::Trap::Interrupt) => CallFailure::Deadline,
        Some(wasmtime::Trap::AllocationTooLarge) => CallFailure::Memory,
        Some(trap) => CallFailure::Trap(trap.to_string()),
        None => {
            let text = format!("{err:#}");
            if text.contains("memory") && text.contains("limit") || text.contains("grow") {
                CallFailure::Memory
            } else if instantiating {
                CallFailure::Instantiate(text)
            } else {
                CallFailure::Trap(text)
            }
        }
    }
}

/// Instances of one pack kept for reuse by one composition (one tenant).
/// An instance is recycled after `max_uses` calls and after any failure;
/// idle instances count against the engine's fleet-wide bound
/// ([`crate::idle`]), which may drop this pool's least recently used ones.
pub(crate) struct InstancePool {
    idle: Arc<Idle<Live>>,
    budget: Arc<IdleBudget<Live>>,
    max_idle: usize,
    max_uses: u32,
}

impl InstancePool {
    pub fn new(budget: &Arc<IdleBudget<Live>>, max_idle: usize, max_uses: u32) -> Self {
        InstancePool {
            idle: budget.register(),
            budget: Arc::clone(budget),
            max_idle,
            max_uses,
        }
    }

    /// An idle instance, or `None` if the pool is empty.
    pub fn take(&self) -> Option<Live> {
        self.idle.touch();
        let live = self.idle.instances.lock().ok()?.pop()?;
        self.budget.taken();
        Some(live)
    }

    /// Returns an instance after a successful call.
    pub fn give_back(&self, live: Live) {
        if live.uses >= self.max_uses {
            return;
        }
        self.idle.touch();
        let kept = match self.idle.instances.lock() {
            Ok(mut idle) if idle.len() < self.max_idle => {
                idle.push(live);
                true
            }
            _ => false,
        };
        if kept {
            self.budget.added(&self.idle);
        }
    }

    /// Number of idle instances.
    pub fn idle(&self) -> usize {
        self.idle.instances.lock().map(|i| i.len()).unwrap_or(0)
    }
}

impl Drop for InstancePool {
    fn drop(&mut self) {
        let n = self.idle();
        self.budget.dropped(n);
    }
}
