//! The evaluation pool: a fixed set of threads that run pack evaluations,
//! fed fairly across lanes (tenants), so that a slow or hostile tenant's
//! packs never hold the threads other tenants need, and never block an
//! async runtime's workers.
//!
//! - **Bounded threads.** [`PoolConfig::threads`] threads (the number of
//!   cores by default) run every evaluation of the process.
//! - **A share per lane.** One lane runs on at most
//!   [`PoolConfig::lane_running`] threads at once (all but one, by default),
//!   so at least one thread is always free for the other lanes.
//! - **Round robin.** A free thread takes the next job of the next lane in
//!   turn that is under its share: a lane with a long queue waits for its
//!   turn like the others.
//! - **Bounded queues.** A lane queues at most [`PoolConfig::lane_queue`]
//!   jobs and the pool [`PoolConfig::total_queue`]; beyond either, a
//!   submission is refused at once with [`Busy`] (the server answers 429
//!   with `Retry-After`), and nothing of other lanes is affected.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

/// Sizes of an [`EvalPool`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolConfig {
    /// Threads that run evaluations.
    pub threads: usize,
    /// Most threads one lane (tenant) may occupy at once.
    pub lane_running: usize,
    /// Most jobs one lane may have waiting.
    pub lane_queue: usize,
    /// Most jobs waiting in the whole pool.
    pub total_queue: usize,
}

impl Default for PoolConfig {
    fn default() -> Self {
        let threads = std::thread::available_parallelism().map_or(2, usize::from);
        PoolConfig::for_threads(threads)
    }
}

impl PoolConfig {
    /// The defaults for `threads` threads: a lane may use all but one
    /// (at least one), queue 256 jobs, the pool 8192.
    pub fn for_threads(threads: usize) -> PoolConfig {
        let threads = threads.max(1);
        PoolConfig {
            threads,
            lane_running: threads.saturating_sub(1).max(1),
            lane_queue: 256,
            total_queue: 8192,
        }
    }
}

/// Why a job was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Busy {
    /// The lane's queue is full: this lane is sending more than its share.
    #[error("too many evaluations of this tenant are waiting")]
    Lane,
    /// The pool's queue is full: the server as a whole is overloaded.
    #[error("too many evaluations are waiting")]
    Pool,
    /// The pool is shutting down.
    #[error("the evaluation pool has stopped")]
    Stopped,
}

type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Default)]
struct Lane {
    queue: VecDeque<Job>,
    running: usize,
    /// Whether the lane is in `Sched::ready`.
    ready: bool,
}

#[derive(Default)]
struct Sched {
    lanes: HashMap<Arc<str>, Lane>,
    /// Lanes with waiting jobs and room in their share, in turn order.
    ready: VecDeque<Arc<str>>,
    waiting: usize,
    /// Threads waiting for work: only then does a new job need a wake-up
    /// (each costs a system call, even with no thread to wake).
    idle: usize,
    stopped: bool,
}

struct Shared {
    config: PoolConfig,
    sched: Mutex<Sched>,
    work: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Sched> {
        // A job never runs under the lock, so a poisoned lock only means a
        // panic in this module's bookkeeping; the state is still usable.
        self.sched.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A fair, bounded pool of evaluation threads. Cheap to clone; the threads
/// stop once every clone is dropped and the queue has drained.
#[derive(Clone)]
pub struct EvalPool {
    shared: Arc<Shared>,
    _stop: Arc<StopOnDrop>,
}

struct StopOnDrop(Arc<Shared>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.lock().stopped = true;
        self.0.work.notify_all();
    }
}

impl std::fmt::Debug for EvalPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EvalPool")
            .field("config", &self.shared.config)
            .finish_non_exhaustive()
    }
}

impl EvalPool {
    /// Starts a pool's threads.
    pub fn new(config: PoolConfig) -> std::io::Result<EvalPool> {
        let config = PoolConfig {
            threads: config.threads.max(1),
            lane_running: config.lane_running.max(1),
            ..config
        };
        let shared = Arc::new(Shared {
            config,
            sched: Mutex::new(Sched::default()),
            work: Condvar::new(),
        });
        for i in 0..shared.config.threads {
            let s = Arc::clone(&shared);
            std::thread::Builder::new()
                .name(format!("warden-eval-{i}"))
                .spawn(move || worker(&s))?;
        }
        Ok(EvalPool {
            _stop: Arc::new(StopOnDrop(Arc::clone(&shared))),
            shared,
        })
    }

    /// The pool's sizes.
    pub fn config(&self) -> &PoolConfig {
        &self.shared.config
    }

    /// Jobs waiting (not yet running) in `lane` and in the whole pool.
    pub fn waiting(&self, lane: &str) -> (usize, usize) {
        let s = self.shared.lock();
        (s.lanes.get(lane).map_or(0, |l| l.queue.len()), s.waiting)
    }

    /// Queues `job` in `lane`, or refuses it at once when the lane's or the
    /// pool's queue is full.
    pub fn try_spawn(&self, lane: &str, job: impl FnOnce() + Send + 'static) -> Result<(), Busy> {
        let cfg = &self.shared.config;
        let mut s = self.shared.lock();
        if s.stopped {
            return Err(Busy::Stopped);
        }
        if s.waiting >= cfg.total_queue {
            return Err(Busy::Pool);
        }
        let key = match s.lanes.get_key_value(lane) {
            Some((k, _)) => Arc::clone(k),
            None => Arc::from(lane),
        };
        let l = s.lanes.entry(Arc::clone(&key)).or_default();
        if l.queue.len() >= cfg.lane_queue {
            return Err(Busy::Lane);
        }
        l.queue.push_back(Box::new(job));
        let wake = !l.ready && l.running < cfg.lane_running;
        if wake {
            l.ready = true;
        }
        s.waiting += 1;
        if wake {
            s.ready.push_back(key);
            let idle = s.idle > 0;
            drop(s);
            if idle {
                self.shared.work.notify_one();
            }
        }
        Ok(())
    }

    /// Runs `f` in `lane` on the pool and waits for its result without
    /// blocking the async runtime; refused at once when the lane's or the
    /// pool's queue is full.
    #[cfg(feature = "tokio")]
    pub async fn run<T: Send + 'static>(
        &self,
        lane: &str,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.try_spawn(lane, move || {
            let _ = tx.send(f());
        })?;
        // The job always runs once queued (workers drain the queue before
        // stopping); a panic in it drops the sender.
        rx.await.map_err(|_| Busy::Stopped)
    }
}

fn worker(shared: &Shared) {
    let cap = shared.config.lane_running;
    let mut s = shared.lock();
    loop {
        let Some(key) = s.ready.pop_front() else {
            if s.stopped && s.waiting == 0 {
                return;
            }
            s.idle += 1;
            s = shared.work.wait(s).unwrap_or_else(|p| p.into_inner());
            s.idle -= 1;
            continue;
        };
        let Some(l) = s.lanes.get_mut(&key) else {
            continue;
        };
        let Some(job) = l.queue.pop_front() else {
            l.ready = false;
            continue;
        };
        l.running += 1;
        // Still work and room: back of the line, behind the other lanes.
        let again = !l.queue.is_empty() && l.running < cap;
        l.ready = again;
        s.waiting -= 1;
        if again {
            s.ready.push_back(Arc::clone(&key));
            if s.idle > 0 {
                shared.work.notify_one();
            }
        }
        drop(s);
        // A panicking job must not take the thread (and its share) with it.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
        s = shared.lock();
        let remove = match s.lanes.get_mut(&key) {
            Some(l) => {
                l.running -= 1;
                if !l.ready && !l.queue.is_empty() {
                    l.ready = true;
                    s.ready.push_back(Arc::clone(&key));
                    false
                } else {
                    l.queue.is_empty() && l.running == 0
                }
            }
            None => false,
        };
        if remove {
            s.lanes.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::mpsc;
    use std::time::Duration;

    fn pool(threads: usize, lane_running: usize, lane_queue: usize) -> EvalPool {
        EvalPool::new(PoolConfig {
            threads,
            lane_running,
            lane_queue,
            total_queue: 1000,
        })
        .unwrap()
    }

    #[test]
    fn a_lane_never_takes_more_than_its_share() {
        let p = pool(3, 2, 100);
        let (running, peak) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (done_tx, done) = mpsc::channel();
        for _ in 0..20 {
            let (running, peak, done_tx) = (running.clone(), peak.clone(), done_tx.clone());
            p.try_spawn("noisy", move || {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(5));
                running.fetch_sub(1, Ordering::SeqCst);
                done_tx.send(()).unwrap();
            })
            .unwrap();
        }
        for _ in 0..20 {
            done.recv_timeout(Duration::from_secs(10)).unwrap();
        }
        assert_eq!(peak.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn another_lane_runs_while_one_lane_fills_its_share_and_queue() {
        let p = pool(2, 1, 4);
        let (release_tx, release) = mpsc::channel::<()>();
        let release = Arc::new(Mutex::new(release));
        // `noisy` blocks its one thread and queues up to its bound.
        let (started_tx, started) = mpsc::channel();
        for i in 0..5 {
            let (release, started_tx) = (release.clone(), started_tx.clone());
            p.try_spawn("noisy", move || {
                let _ = started_tx.send(());
                let _ = release
                    .lock()
                    .unwrap()
                    .recv_timeout(Duration::from_secs(10));
            })
            .unwrap();
            if i == 0 {
                started.recv_timeout(Duration::from_secs(5)).unwrap();
            }
        }
        assert_eq!(p.try_spawn("noisy", || {}), Err(Busy::Lane));
        // `quiet` is served at once by the other thread.
        let (tx, rx) = mpsc::channel();
        for i in 0..10 {
            let tx = tx.clone();
            p.try_spawn("quiet", move || tx.send(i).unwrap()).unwrap();
            assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), i);
        }
        for _ in 0..5 {
            release_tx.send(()).unwrap();
        }
    }

    #[test]
    fn lanes_take_turns() {
        // One thread: jobs of two lanes alternate however they were queued.
        let p = pool(1, 1, 100);
        let (gate_tx, gate) = mpsc::channel::<()>();
        p.try_spawn("a", move || gate.recv().unwrap()).unwrap();
        let (tx, rx) = mpsc::channel();
        for lane in ["a", "a", "a", "b", "b", "b"] {
            let tx = tx.clone();
            p.try_spawn(lane, move || tx.send(lane).unwrap()).unwrap();
        }
        gate_tx.send(()).unwrap();
        let order: Vec<&str> = (0..6)
            .map(|_| rx.recv_timeout(Duration::from_secs(5)).unwrap())
            .collect();
        assert_eq!(order, ["b", "a", "b", "a", "b", "a"]);
    }

    #[test]
    fn a_panicking_job_keeps_its_thread() {
        let p = pool(1, 1, 10);
        p.try_spawn("a", || panic!("pack bug")).unwrap();
        let (tx, rx) = mpsc::channel();
        p.try_spawn("a", move || tx.send(7).unwrap()).unwrap();
        assert_eq!(rx.recv_timeout(Duration::from_secs(5)).unwrap(), 7);
    }

    #[test]
    fn the_whole_pool_is_bounded() {
        let p = EvalPool::new(PoolConfig {
            threads: 1,
            lane_running: 1,
            lane_queue: 10,
            total_queue: 3,
        })
        .unwrap();
        let (gate_tx, gate) = mpsc::channel::<()>();
        p.try_spawn("a", move || gate.recv().unwrap()).unwrap();
        std::thread::sleep(Duration::from_millis(50));
        for lane in ["b", "c", "d"] {
            p.try_spawn(lane, || {}).unwrap();
        }
        assert_eq!(p.try_spawn("e", || {}), Err(Busy::Pool));
        assert_eq!(p.waiting("b"), (1, 3));
        gate_tx.send(()).unwrap();
    }
}
