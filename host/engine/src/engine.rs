//! The wasmtime engine: configuration, the pooling allocator, the epoch ticker
//! that enforces deadlines, and the compiled-artifact cache.

use crate::cache::ArtifactCache;
use crate::error::LoadError;
use crate::idle::IdleBudget;
use crate::pool::{Busy, EvalPool, PoolConfig};
use crate::sandbox::Sandbox;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

/// Limits and knobs of an [`Engine`]. `Default` is a sensible production setup.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Wall-clock budget of one pack call (`evaluate`, `info`, `check-settings`).
    pub deadline: Duration,
    /// Granularity of deadline enforcement (the epoch tick).
    pub tick: Duration,
    /// Largest linear memory a pack may grow to, in bytes.
    pub memory_limit: usize,
    /// Largest pack accepted, in bytes.
    pub max_pack_size: usize,
    /// Most findings one pack may return for one request.
    pub max_findings: usize,
    /// Longest finding reason or route, in bytes.
    pub max_reason_bytes: usize,
    /// Directory for compiled artifacts; `None` compiles on every load.
    pub cache_dir: Option<PathBuf>,
    /// Most bytes of compiled artifacts the cache directory keeps; beyond
    /// it, the least recently used artifacts are removed (they are compiled
    /// again when next loaded).
    pub cache_max_bytes: u64,
    /// Instances the pooling allocator can hold at once (live and pooled).
    pub max_instances: u32,
    /// Idle reused instances kept across every composition (`reuse`
    /// isolation); past it the least recently used are dropped. Keep it
    /// well under `max_instances`, which also covers running decisions and
    /// compositions being built. Default: half of `max_instances`.
    pub max_idle_instances: Option<usize>,
    /// The threads that run [`crate::Composition::evaluate_async`] (and the
    /// server's decisions), fair across tenants; started on first use.
    pub pool: PoolConfig,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            deadline: Duration::from_millis(50),
            tick: Duration::from_millis(1),
            memory_limit: 16 << 20,
            max_pack_size: 16 << 20,
            max_findings: 256,
            max_reason_bytes: 4096,
            cache_dir: None,
            cache_max_bytes: 1 << 30,
            max_instances: 1000,
            max_idle_instances: None,
            pool: PoolConfig::default(),
        }
    }
}

/// Counters of the compiled-artifact cache.
#[derive(Debug, Default)]
pub(crate) struct CacheStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    pub rejected: AtomicU64,
}

pub(crate) struct EngineInner {
    pub sandbox: Sandbox,
    pub config: EngineConfig,
    pub cache: Option<ArtifactCache>,
    pub stats: CacheStats,
    pub pool: OnceLock<Result<EvalPool, String>>,
    stop: Arc<AtomicBool>,
}

impl EngineInner {
    /// The evaluation pool, started on first use; [`Busy::Stopped`] if its
    /// threads could not be started.
    pub fn pool(&self) -> Result<&EvalPool, Busy> {
        self.pool
            .get_or_init(|| EvalPool::new(self.config.pool.clone()).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|_| Busy::Stopped)
    }
}

impl Drop for EngineInner {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Loads packs and runs them sandboxed. Cheap to clone; share one per process.
#[derive(Clone)]
pub struct Engine {
    pub(crate) inner: Arc<EngineInner>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("config", &self.inner.config)
            .finish_non_exhaustive()
    }
}

impl Engine {
    /// An engine with the default configuration and no artifact cache.
    pub fn new() -> Result<Engine, LoadError> {
        Engine::with_config(EngineConfig::default())
    }

    /// An engine with the given configuration.
    pub fn with_config(config: EngineConfig) -> Result<Engine, LoadError> {
        let mut pooling = wasmtime::PoolingAllocationConfig::default();
        let memory = config.memory_limit.max(1 << 16);
        pooling
            .total_component_instances(config.max_instances)
            .total_core_instances(config.max_instances.saturating_mul(4))
            .total_memories(config.max_instances)
            .total_tables(config.max_instances.saturating_mul(2))
            .max_memory_size(memory)
            .linear_memory_keep_resident(1 << 20)
            .table_keep_resident(1 << 14);
        let mut wt = wasmtime::Config::new();
        wt.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pooling))
            .epoch_interruption(true)
            .memory_reservation(memory as u64)
            .memory_guard_size(64 << 10)
            .memory_reservation_for_growth(0)
            .max_wasm_stack(512 << 10)
            .wasm_component_model(true);
        let wasmtime =
            wasmtime::Engine::new(&wt).map_err(|e| LoadError::Engine(format!("{e:#}")))?;
        let cache = match &config.cache_dir {
            Some(dir) => Some(
                ArtifactCache::open(dir, &wasmtime, config.cache_max_bytes)
                    .map_err(|e| LoadError::Engine(format!("cache `{}`: {e}", dir.display())))?,
            ),
            None => None,
        };
        let tick = config.tick.max(Duration::from_micros(100));
        let deadline_ticks = (config.deadline.as_nanos() / tick.as_nanos()).max(1) as u64 + 1;
        let idle_max = config
            .max_idle_instances
            .unwrap_or(usize::try_from(config.max_instances / 2).unwrap_or(usize::MAX));
        let stop = Arc::new(AtomicBool::new(false));
        spawn_ticker(wasmtime.weak(), tick, stop.clone())?;
        Ok(Engine {
            inner: Arc::new(EngineInner {
                sandbox: Sandbox {
                    wasmtime,
                    memory_limit: config.memory_limit,
                    deadline_ticks,
                    idle: Arc::new(IdleBudget::new(idle_max)),
                },
                config,
                cache,
                stats: CacheStats::default(),
                pool: OnceLock::new(),
                stop,
            }),
        })
    }

    /// The evaluation pool (its threads start on the first call).
    pub fn pool(&self) -> Result<&EvalPool, Busy> {
        self.inner.pool()
    }

    /// Idle reused instances held across every composition now.
    pub fn idle_instances(&self) -> usize {
        self.inner.sandbox.idle.total()
    }

    /// The configuration this engine runs with.
    pub fn config(&self) -> &EngineConfig {
        &self.inner.config
    }

    /// How many packs were loaded from the artifact cache, compiled, and how
    /// many cached artifacts were rejected (bad authentication tag).
    pub fn cache_stats(&self) -> (u64, u64, u64) {
        let s = &self.inner.stats;
        (
            s.hits.load(Ordering::Relaxed),
            s.misses.load(Ordering::Relaxed),
            s.rejected.load(Ordering::Relaxed),
        )
    }
}

fn spawn_ticker(
    engine: wasmtime::EngineWeak,
    tick: Duration,
    stop: Arc<AtomicBool>,
) -> Result<(), LoadError> {
    std::thread::Builder::new()
        .name("warden-epoch".to_owned())
        .spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                std::thread::sleep(tick);
                match engine.upgrade() {
                    Some(e) => e.increment_epoch(),
                    None => break,
                }
            }
        })
        .map(|_| ())
        .map_err(|e| LoadError::Engine(format!("cannot start the deadline ticker: {e}")))
}
