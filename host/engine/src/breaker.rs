//! Circuit breakers: a pack version that keeps failing for a tenant
//! (deadline, memory limit, trap) is quarantined for that tenant: its
//! decisions fail closed at once with a finding that says so, and no wasm
//! runs, for a back-off period. Then one decision probes it: success closes
//! the breaker, failure opens it again with the back-off doubled (up to a
//! bound).
//!
//! Breakers live in a [`Breakers`] registry keyed by tenant and pack digest,
//! so they outlast the tenant's composition being rebuilt; a composition
//! uses them once given the registry ([`crate::Composition::guarded`]).
//! Every opening and closing is reported to the registry's observer (the
//! control plane writes it to the tenant's trace log).

use serde::{Deserialize, Serialize};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// When a breaker opens and for how long.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerConfig {
    /// Failures within the window that open the breaker (0: never).
    pub failures: u32,
    /// The window failures are counted in, in ms.
    pub window_ms: u64,
    /// The first quarantine, in ms; doubled after each failed probe.
    pub backoff_ms: u64,
    /// The longest quarantine, in ms.
    pub max_backoff_ms: u64,
    /// While a pack of the tenant is quarantined, the tenant's decisions
    /// (which fail closed at once) are admitted at most this many times a
    /// second; further ones wait their turn, up to a second, then get 429
    /// (0: not paced). A tenant whose agents retry a failing action in a
    /// loop thus cannot take the server's CPU from the others.
    pub paced_per_s: u32,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        BreakerConfig {
            failures: 5,
            window_ms: 10_000,
            backoff_ms: 30_000,
            max_backoff_ms: 600_000,
            paced_per_s: 20,
        }
    }
}

impl BreakerConfig {
    /// Checks the bounds; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let day = 86_400_000;
        for (name, v) in [
            ("window_ms", self.window_ms),
            ("backoff_ms", self.backoff_ms),
            ("max_backoff_ms", self.max_backoff_ms),
        ] {
            if v == 0 || v > day {
                return Err(format!("`{name}` must be between 1 and {day} (one day)"));
            }
        }
        if self.failures > 10_000 {
            return Err("`failures` must be at most 10000".to_owned());
        }
        if self.paced_per_s > 100_000 {
            return Err("`paced_per_s` must be at most 100000".to_owned());
        }
        if self.max_backoff_ms < self.backoff_ms {
            return Err("`max_backoff_ms` must be at least `backoff_ms`".to_owned());
        }
        Ok(())
    }
}

/// A breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BreakerState {
    /// The pack runs.
    Closed,
    /// Quarantined: the pack does not run until the back-off ends.
    Open,
    /// One decision is probing the pack.
    Probing,
}

/// What a breaker looks like now (for the API).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BreakerStatus {
    /// Pack name.
    pub pack: String,
    /// Pack version.
    pub version: String,
    /// Pack digest.
    pub digest: String,
    /// Closed, open or probing.
    pub state: BreakerState,
    /// Failures counted in the current window.
    pub recent_failures: u32,
    /// The last failure, as the finding named it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_failure: Option<String>,
    /// While open: when a probe may run (Unix ms).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub open_until_ms: Option<i64>,
    /// The current back-off, in ms.
    pub backoff_ms: u64,
}

/// A change of state, reported to the registry's observer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transition {
    /// The breaker opened (or reopened after a failed probe).
    Opened {
        /// Failures that opened it (1 for a failed probe).
        failures: u32,
        /// The last failure.
        reason: String,
        /// How long the pack is quarantined, in ms.
        backoff_ms: u64,
    },
    /// A probe succeeded: the pack runs again.
    Closed,
}

/// Whether a call may run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Admit {
    /// Run it.
    Run,
    /// Run it as the probe.
    Probe,
    /// Do not run it: quarantined, for this long still.
    Refuse {
        /// Time left.
        left: Duration,
        /// The failure that opened the breaker.
        reason: String,
    },
}

#[derive(Debug)]
struct Inner {
    state: BreakerState,
    recent: VecDeque<Instant>,
    last_failure: Option<String>,
    open_until: Option<Instant>,
    backoff: Duration,
}

type Observer = Arc<dyn Fn(&str, &BreakerStatus, &Transition) + Send + Sync>;

/// The breaker of one pack version for one tenant.
pub struct Breaker {
    tenant: String,
    pack: (String, String, String),
    config: BreakerConfig,
    inner: Mutex<Inner>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Breaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breaker")
            .field("tenant", &self.tenant)
            .field("pack", &self.pack)
            .finish_non_exhaustive()
    }
}

impl Breaker {
    /// A closed breaker of `pack` (name, version, digest) for `tenant`.
    fn new(
        tenant: &str,
        pack: (String, String, String),
        config: BreakerConfig,
        observer: Option<Observer>,
    ) -> Breaker {
        Breaker {
            tenant: tenant.to_owned(),
            pack,
            config,
            inner: Mutex::new(Inner {
                state: BreakerState::Closed,
                recent: VecDeque::new(),
                last_failure: None,
                open_until: None,
                backoff: Duration::from_millis(config.backoff_ms),
            }),
            observer,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Whether a call may run now.
    pub(crate) fn admit(&self, now: Instant) -> Admit {
        let mut s = self.lock();
        match s.state {
            BreakerState::Closed => Admit::Run,
            BreakerState::Open => match s.open_until {
                Some(until) if now < until => Admit::Refuse {
                    left: until - now,
                    reason: s.last_failure.clone().unwrap_or_default(),
                },
                _ => {
                    s.state = BreakerState::Probing;
                    Admit::Probe
                }
            },
            // One probe at a time; the others wait for its verdict.
            BreakerState::Probing => Admit::Refuse {
                left: Duration::ZERO,
                reason: s.last_failure.clone().unwrap_or_default(),
            },
        }
    }

    /// Records a call's outcome: `None` for success, or the failure
    /// (deadline, memory, trap) that counts toward opening.
    pub(crate) fn record(&self, now: Instant, failure: Option<&str>) {
        let transition = {
            let mut s = self.lock();
            self.step(&mut s, now, failure)
        };
        if let (Some(t), Some(observe)) = (transition, &self.observer) {
            observe(&self.tenant, &self.status(), &t);
        }
    }

    fn step(&self, s: &mut Inner, now: Instant, failure: Option<&str>) -> Option<Transition> {
        let window = Duration::from_millis(self.config.window_ms);
        let base = Duration::from_millis(self.config.backoff_ms);
        let max = Duration::from_millis(self.config.max_backoff_ms);
        match (s.state, failure) {
            (BreakerState::Probing, None) => {
                s.state = BreakerState::Closed;
                s.recent.clear();
                s.open_until = None;
                s.backoff = base;
                Some(Transition::Closed)
            }
            (BreakerState::Probing, Some(why)) => {
                s.backoff = (s.backoff * 2).min(max);
                s.last_failure = Some(why.to_owned());
                s.state = BreakerState::Open;
                s.open_until = Some(now + s.backoff);
                Some(Transition::Opened {
                    failures: 1,
                    reason: why.to_owned(),
                    backoff_ms: millis(s.backoff),
                })
            }
            (BreakerState::Closed, Some(why)) if self.config.failures > 0 => {
                s.last_failure = Some(why.to_owned());
                s.recent.push_back(now);
                while s
                    .recent
                    .front()
                    .is_some_and(|t| now.duration_since(*t) > window)
                {
                    s.recent.pop_front();
                }
                let n = u32::try_from(s.recent.len()).unwrap_or(u32::MAX);
                if n < self.config.failures {
                    return None;
                }
                s.state = BreakerState::Open;
                s.open_until = Some(now + s.backoff);
                s.recent.clear();
                Some(Transition::Opened {
                    failures: n,
                    reason: why.to_owned(),
                    backoff_ms: millis(s.backoff),
                })
            }
            // Success while closed, or an outcome of a call admitted before
            // the breaker opened: nothing changes.
            _ => None,
        }
    }

    /// The breaker's state now.
    pub fn status(&self) -> BreakerStatus {
        let s = self.lock();
        let (pack, version, digest) = self.pack.clone();
        let now = Instant::now();
        BreakerStatus {
            pack,
            version,
            digest,
            state: s.state,
            recent_failures: u32::try_from(s.recent.len()).unwrap_or(u32::MAX),
            last_failure: s.last_failure.clone(),
            open_until_ms: match (s.state, s.open_until) {
                (BreakerState::Open, Some(until)) => {
                    let left = until.saturating_duration_since(now);
                    Some(unix_ms(SystemTime::now() + left))
                }
                _ => None,
            },
            backoff_ms: millis(s.backoff),
        }
    }
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Breakers by (tenant, pack digest).
type ByPack = HashMap<(String, String), Arc<Breaker>>;

/// Every tenant's breakers, by tenant and pack digest. Cheap to clone.
#[derive(Clone, Default)]
pub struct Breakers {
    map: Arc<Mutex<ByPack>>,
    observer: Option<Observer>,
}

impl std::fmt::Debug for Breakers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Breakers").finish_non_exhaustive()
    }
}

impl Breakers {
    /// A registry whose breakers report every transition to `observer`
    /// (tenant, the breaker's status after it, the transition).
    pub fn with_observer(
        observer: impl Fn(&str, &BreakerStatus, &Transition) + Send + Sync + 'static,
    ) -> Breakers {
        Breakers {
            map: Arc::default(),
            observer: Some(Arc::new(observer)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, ByPack> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The breaker of `pack` for `tenant`, created closed with `config`.
    /// A breaker whose configuration changed starts afresh.
    pub(crate) fn get(
        &self,
        tenant: &str,
        pack: &crate::Pack,
        config: BreakerConfig,
    ) -> Arc<Breaker> {
        let key = (tenant.to_owned(), pack.digest().to_owned());
        let mut map = self.lock();
        if let Some(b) = map.get(&key)
            && b.config == config
        {
            return Arc::clone(b);
        }
        let identity = (
            pack.name().to_owned(),
            pack.version().to_string(),
            pack.digest().to_owned(),
        );
        let b = Arc::new(Breaker::new(
            tenant,
            identity,
            config,
            self.observer.clone(),
        ));
        map.insert(key, Arc::clone(&b));
        b
    }

    /// The tenant's breakers that are not closed, or have counted failures.
    pub fn status(&self, tenant: &str) -> Vec<BreakerStatus> {
        let map = self.lock();
        let mut out: Vec<BreakerStatus> = map
            .iter()
            .filter(|((t, _), _)| t == tenant)
            .map(|(_, b)| b.status())
            .filter(|s| s.state != BreakerState::Closed || s.recent_failures > 0)
            .collect();
        out.sort_by(|a, b| (&a.pack, &a.version).cmp(&(&b.pack, &b.version)));
        out
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn breaker(config: BreakerConfig) -> Breaker {
        let pack = ("p".into(), "1.0.0".into(), "sha256:00".into());
        Breaker::new("t", pack, config, None)
    }

    const CONFIG: BreakerConfig = BreakerConfig {
        failures: 3,
        window_ms: 1000,
        backoff_ms: 100,
        max_backoff_ms: 250,
        paced_per_s: 20,
    };

    #[test]
    fn opens_after_failures_in_the_window_and_closes_after_a_good_probe() {
        let b = breaker(CONFIG);
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        // Two failures, then one outside the window: still closed.
        b.record(ms(0), Some("exceeded its deadline"));
        b.record(ms(10), Some("exceeded its deadline"));
        b.record(ms(1500), Some("exceeded its deadline"));
        assert_eq!(b.admit(ms(1500)), Admit::Run);
        b.record(ms(1600), Some("trapped"));
        b.record(ms(1700), Some("exceeded its deadline"));
        assert!(matches!(b.admit(ms(1700)), Admit::Refuse { .. }));
        assert_eq!(b.status().state, BreakerState::Open);
        // The back-off ends: one probe, the others still refused.
        assert_eq!(b.admit(ms(1801)), Admit::Probe);
        assert!(matches!(b.admit(ms(1802)), Admit::Refuse { .. }));
        b.record(ms(1810), None);
        assert_eq!(b.admit(ms(1811)), Admit::Run);
        assert_eq!(b.status().state, BreakerState::Closed);
    }

    #[test]
    fn a_failed_probe_doubles_the_back_off_up_to_the_bound() {
        let b = breaker(CONFIG);
        let t0 = Instant::now();
        let ms = |n| t0 + Duration::from_millis(n);
        for i in 0..3 {
            b.record(ms(i), Some("exceeded its memory limit"));
        }
        // Opened by the third failure, at 2 ms, for 100 ms.
        assert!(matches!(b.admit(ms(101)), Admit::Refuse { .. }));
        assert_eq!(b.admit(ms(103)), Admit::Probe);
        b.record(ms(103), Some("exceeded its memory limit"));
        assert_eq!(b.status().backoff_ms, 200);
        assert!(matches!(b.admit(ms(300)), Admit::Refuse { .. }));
        assert_eq!(b.admit(ms(304)), Admit::Probe);
        b.record(ms(304), Some("exceeded its memory limit"));
        assert_eq!(b.status().backoff_ms, 250);
    }

    #[test]
    fn zero_failures_never_opens() {
        let b = breaker(BreakerConfig {
            failures: 0,
            ..CONFIG
        });
        let now = Instant::now();
        for _ in 0..100 {
            b.record(now, Some("trapped"));
        }
        assert_eq!(b.admit(now), Admit::Run);
    }

    #[test]
    fn bounds_are_checked() {
        assert!(BreakerConfig::default().validate().is_ok());
        let bad = BreakerConfig {
            backoff_ms: 0,
            ..BreakerConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("backoff_ms"));
        let bad = BreakerConfig {
            max_backoff_ms: 10,
            ..BreakerConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("max_backoff_ms"));
        let bad = BreakerConfig {
            paced_per_s: 1_000_000,
            ..BreakerConfig::default()
        };
        assert!(bad.validate().unwrap_err().contains("paced_per_s"));
    }
}
