//! Fair admission of decisions across tenants. Every decision costs CPU
//! outside the packs too (HTTP, JSON, the trace log), and a tenant's share
//! of that CPU follows how many of its decisions are in flight: a tenant
//! with 16 clients looping on cheap denials would get four times the CPU of
//! one with 4. So while other tenants are active, a tenant may have no more
//! decisions in flight than the busiest other active tenant had recently
//! (at least [`FLOOR`]); its further requests wait, in order, and are let in
//! as its own finish. Alone, a tenant is not limited (group commit wants
//! many decisions in flight). A tenant with [`MAX_WAITING`] requests waiting
//! is told to retry (429).

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;

/// Decisions in flight a tenant may always have.
pub const FLOOR: usize = 2;
/// Requests of one tenant waiting for admission, at most.
pub const MAX_WAITING: usize = 1024;
/// How long a tenant counts as active, and how far back its peak reaches.
const WINDOW: Duration = Duration::from_millis(250);

#[derive(Default)]
struct Tenant {
    inflight: usize,
    waiting: VecDeque<oneshot::Sender<()>>,
    /// The most in flight in the current window, and when it began.
    peak: usize,
    window: Option<Instant>,
    last_seen: Option<Instant>,
}

impl Tenant {
    fn note(&mut self, now: Instant) {
        self.last_seen = Some(now);
        match self.window {
            Some(w) if now.duration_since(w) < WINDOW => self.peak = self.peak.max(self.inflight),
            _ => {
                self.window = Some(now);
                self.peak = self.inflight;
            }
        }
    }

    fn active(&self, now: Instant) -> bool {
        self.inflight > 0
            || self
                .last_seen
                .is_some_and(|t| now.duration_since(t) < WINDOW)
    }
}

/// The admission state of every tenant. Cheap to clone.
#[derive(Clone, Default)]
pub struct Admission(Arc<Mutex<HashMap<String, Tenant>>>);

impl std::fmt::Debug for Admission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Admission").finish_non_exhaustive()
    }
}

/// Why a decision was not admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many decisions of this tenant are waiting")]
pub struct TooMany;

/// A decision in flight; dropping it lets the next one in.
#[derive(Debug)]
pub struct Permit {
    admission: Admission,
    tenant: String,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.admission.leave(&self.tenant);
    }
}

fn cap(map: &HashMap<String, Tenant>, tenant: &str, now: Instant) -> usize {
    let others = map
        .iter()
        .filter(|(t, s)| t.as_str() != tenant && s.active(now))
        .map(|(_, s)| s.peak.max(s.inflight))
        .max();
    match others {
        Some(p) => p.max(FLOOR),
        None => usize::MAX,
    }
}

impl Admission {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Tenant>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Waits for `tenant`'s turn to have one more decision in flight.
    pub async fn enter(&self, tenant: &str) -> Result<Permit, TooMany> {
        let rx = {
            let now = Instant::now();
            let mut map = self.lock();
            let limit = cap(&map, tenant, now);
            let t = map.entry(tenant.to_owned()).or_default();
            t.note(now);
            if t.inflight < limit && t.waiting.is_empty() {
                t.inflight += 1;
                t.note(now);
                None
            } else if t.waiting.len() >= MAX_WAITING {
                return Err(TooMany);
            } else {
                let (tx, rx) = oneshot::channel();
                t.waiting.push_back(tx);
                Some(rx)
            }
        };
        let permit = Permit {
            admission: self.clone(),
            tenant: tenant.to_owned(),
        };
        match rx {
            None => Ok(permit),
            // Granted (in flight already counted), or the state was dropped.
            Some(rx) => match rx.await {
                Ok(()) => Ok(permit),
                Err(_) => {
                    std::mem::forget(permit);
                    Err(TooMany)
                }
            },
        }
    }

    fn leave(&self, tenant: &str) {
        let now = Instant::now();
        let mut map = self.lock();
        if let Some(t) = map.get_mut(tenant) {
            t.inflight = t.inflight.saturating_sub(1);
            t.note(now);
        }
        // Let in whoever is now under their cap, this tenant first.
        let mut names: Vec<String> = map
            .iter()
            .filter(|(_, s)| !s.waiting.is_empty())
            .map(|(n, _)| n.clone())
            .collect();
        names.sort_by_key(|n| n != tenant);
        for name in names {
            loop {
                let limit = cap(&map, &name, now);
                let Some(t) = map.get_mut(&name) else { break };
                if t.inflight >= limit {
                    break;
                }
                let Some(tx) = t.waiting.pop_front() else {
                    break;
                };
                // A waiter that gave up (its client went away) is skipped.
                if tx.send(()).is_ok() {
                    t.inflight += 1;
                    t.note(now);
                }
            }
        }
        map.retain(|_, s| s.inflight > 0 || !s.waiting.is_empty() || s.active(now));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[tokio::test]
    async fn a_tenant_alone_is_not_limited() {
        let a = Admission::default();
        let permits: Vec<_> = futures_util::future::join_all((0..100).map(|_| a.enter("solo")))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        assert_eq!(permits.len(), 100);
    }

    #[tokio::test]
    async fn beside_an_active_tenant_one_waits_for_its_share() {
        let a = Admission::default();
        let quiet: Vec<_> = vec![
            a.enter("quiet").await.unwrap(),
            a.enter("quiet").await.unwrap(),
            a.enter("quiet").await.unwrap(),
        ];
        // noisy may have as many in flight as quiet (3), then waits.
        let mut noisy = Vec::new();
        for _ in 0..3 {
            noisy.push(a.enter("noisy").await.unwrap());
        }
        let waiting = tokio::spawn({
            let a = a.clone();
            async move { a.enter("noisy").await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "noisy went past its share");
        // One of its own finishes: the waiting one is let in.
        drop(noisy.pop());
        tokio::time::timeout(Duration::from_secs(1), waiting)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        drop(quiet);
    }
}
