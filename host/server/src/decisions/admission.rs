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
//!
//! Equal shares are not enough for a tenant whose pack is quarantined: its
//! decisions fail closed at once, each still costing HTTP, JSON and a trace
//! append, and its agents tend to retry in a loop. Such a tenant is *paced*
//! ([`Admission::pace`]): its decisions are let in at most `paced_per_s` a
//! second, in order, for [`PACED_FOR`] after its last quarantined decision;
//! one that would wait over [`MAX_PACED_WAIT`] gets 429 at once. A paced
//! tenant does not count toward the others' share.
//!
//! A decision's admission costs O(1) whatever the number of tenants: the
//! busiest other tenant's share is read off [`Top`] (the two largest shares,
//! raised as shares grow and recomputed every [`SWEEP`], when quiet tenants
//! are also forgotten), and a finishing decision looks only at the tenants
//! that have requests waiting.

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
/// How often quiet tenants are forgotten and [`Top`] is recomputed: a
/// tenant that went quiet counts toward the others' share for at most this
/// much longer than [`WINDOW`].
const SWEEP: Duration = Duration::from_millis(50);
/// How long a tenant stays paced after its last quarantined decision.
pub const PACED_FOR: Duration = Duration::from_secs(1);
/// The longest a paced tenant's decision waits for its turn.
pub const MAX_PACED_WAIT: Duration = Duration::from_secs(1);

/// The turns of a paced tenant.
struct Paced {
    until: Instant,
    interval: Duration,
    /// The next free turn.
    next: Instant,
}

#[derive(Default)]
struct Tenant {
    inflight: usize,
    waiting: VecDeque<oneshot::Sender<()>>,
    /// The most in flight in the current window, and when it began.
    peak: usize,
    window: Option<Instant>,
    last_seen: Option<Instant>,
    paced: Option<Paced>,
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

    fn paced(&self, now: Instant) -> bool {
        self.paced.as_ref().is_some_and(|p| now < p.until)
    }

    /// Its share: the most it had in flight in the current window, or now.
    fn share(&self) -> usize {
        self.peak.max(self.inflight)
    }

    fn active(&self, now: Instant) -> bool {
        self.inflight > 0
            || self
                .last_seen
                .is_some_and(|t| now.duration_since(t) < WINDOW)
    }
}

/// The two largest shares among active, unpaced tenants, and whose the
/// largest is: "the busiest *other* tenant" for every tenant, in O(1).
/// Shares only grow between sweeps (a window's peak falls when the window
/// rolls over), so [`Top::raise`] keeps it exact as they grow and a sweep
/// recomputes it; until then a share that fell still counts.
#[derive(Debug, Default)]
struct Top {
    first: Option<(String, usize)>,
    /// The largest share of any tenant but the first's.
    second: Option<usize>,
}

impl Top {
    fn raise(&mut self, tenant: &str, share: usize) {
        match self.first.as_ref().map(|(t, s)| (t == tenant, *s)) {
            None => self.first = Some((tenant.to_owned(), share)),
            Some((true, lead)) => {
                if share > lead
                    && let Some(first) = self.first.as_mut()
                {
                    first.1 = share;
                }
            }
            Some((false, lead)) if share > lead => {
                self.second = Some(lead);
                self.first = Some((tenant.to_owned(), share));
            }
            Some((false, _)) => self.second = Some(self.second.map_or(share, |s| s.max(share))),
        }
    }

    /// The largest share of any tenant but `tenant`.
    fn others(&self, tenant: &str) -> Option<usize> {
        match &self.first {
            Some((t, _)) if t == tenant => self.second,
            Some((_, s)) => Some(*s),
            None => None,
        }
    }
}

#[derive(Default)]
struct Book {
    tenants: HashMap<String, Tenant>,
    /// Tenants with requests waiting, each once.
    queued: Vec<String>,
    top: Top,
    /// When [`Book::sweep`] last ran.
    swept: Option<Instant>,
}

impl Book {
    /// How many decisions `tenant` may have in flight now.
    fn cap(&mut self, tenant: &str, now: Instant) -> usize {
        if self.swept.is_none_or(|s| now.duration_since(s) >= SWEEP) {
            self.sweep(now);
        }
        match self.top.others(tenant) {
            Some(p) => p.max(FLOOR),
            None => usize::MAX,
        }
    }

    /// Forgets quiet tenants and recomputes [`Top`].
    fn sweep(&mut self, now: Instant) {
        self.swept = Some(now);
        self.tenants.retain(|_, s| {
            s.inflight > 0 || !s.waiting.is_empty() || s.active(now) || s.paced(now)
        });
        let mut top = Top::default();
        for (name, s) in &self.tenants {
            if s.active(now) && !s.paced(now) {
                top.raise(name, s.share());
            }
        }
        self.top = top;
    }

    /// `tenant` has one more decision in flight.
    fn admitted(&mut self, tenant: &str, now: Instant) {
        let Some(t) = self.tenants.get_mut(tenant) else {
            return;
        };
        t.inflight += 1;
        t.note(now);
        if !t.paced(now) {
            let share = t.share();
            self.top.raise(tenant, share);
        }
    }

    /// Lets in whoever is now under their cap, `first` first.
    fn let_in(&mut self, first: &str, now: Instant) {
        let mut names = std::mem::take(&mut self.queued);
        if let Some(i) = names.iter().position(|n| n == first) {
            names.swap(0, i);
        }
        for name in &names {
            loop {
                let limit = self.cap(name, now);
                let Some(t) = self.tenants.get_mut(name) else {
                    break;
                };
                if t.inflight >= limit {
                    break;
                }
                let Some(tx) = t.waiting.pop_front() else {
                    break;
                };
                // A waiter that gave up (its client went away) is skipped.
                if tx.send(()).is_ok() {
                    self.admitted(name, now);
                }
            }
        }
        names.retain(|n| self.tenants.get(n).is_some_and(|t| !t.waiting.is_empty()));
        self.queued = names;
    }
}

/// The admission state of every tenant. Cheap to clone.
#[derive(Clone, Default)]
pub struct Admission(Arc<Mutex<Book>>);

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
pub struct Permit<'a> {
    admission: &'a Admission,
    tenant: &'a str,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        self.admission.leave(self.tenant);
    }
}

impl Admission {
    fn lock(&self) -> MutexGuard<'_, Book> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Paces `tenant` (its pack is quarantined): for [`PACED_FOR`] from
    /// now, its decisions are let in at most `per_s` a second (0: never paced).
    pub fn pace(&self, tenant: &str, per_s: u32) {
        if per_s == 0 {
            return;
        }
        let now = Instant::now();
        let interval = Duration::from_secs(1) / per_s;
        let mut book = self.lock();
        let t = book.tenants.entry(tenant.to_owned()).or_default();
        let next = t.paced.as_ref().map_or(now, |p| p.next);
        let newly = t.paced.is_none();
        t.paced = Some(Paced {
            until: now + PACED_FOR,
            interval,
            next,
        });
        // A paced tenant no longer counts toward the others' share.
        if newly {
            book.sweep(now);
        }
    }

    /// While `tenant` is paced, reserves its next turn (when to go on), or
    /// refuses when that is too far off.
    fn turn(&self, tenant: &str) -> Result<Option<Instant>, TooMany> {
        let now = Instant::now();
        let mut book = self.lock();
        let Some(t) = book.tenants.get_mut(tenant) else {
            return Ok(None);
        };
        let p = match t.paced.as_mut() {
            Some(p) if now < p.until => p,
            _ => {
                t.paced = None;
                return Ok(None);
            }
        };
        let at = p.next.max(now);
        if at.duration_since(now) > MAX_PACED_WAIT {
            return Err(TooMany);
        }
        p.next = at + p.interval;
        Ok(Some(at))
    }

    /// Waits for `tenant`'s turn to have one more decision in flight.
    pub async fn enter<'a>(&'a self, tenant: &'a str) -> Result<Permit<'a>, TooMany> {
        if let Some(at) = self.turn(tenant)? {
            tokio::time::sleep_until(at.into()).await;
        }
        let rx = {
            let now = Instant::now();
            let mut book = self.lock();
            let limit = book.cap(tenant, now);
            // The name is copied only the first time (per stretch of activity).
            if !book.tenants.contains_key(tenant) {
                book.tenants.insert(tenant.to_owned(), Tenant::default());
            }
            let Some(t) = book.tenants.get_mut(tenant) else {
                return Err(TooMany);
            };
            t.note(now);
            if t.inflight < limit && t.waiting.is_empty() {
                book.admitted(tenant, now);
                None
            } else if t.waiting.len() >= MAX_WAITING {
                return Err(TooMany);
            } else {
                let (tx, rx) = oneshot::channel();
                let first = t.waiting.is_empty();
                t.waiting.push_back(tx);
                if first {
                    book.queued.push(tenant.to_owned());
                }
                Some(rx)
            }
        };
        let permit = Permit {
            admission: self,
            tenant,
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
        let mut book = self.lock();
        if let Some(t) = book.tenants.get_mut(tenant) {
            t.inflight = t.inflight.saturating_sub(1);
            t.note(now);
        }
        if !book.queued.is_empty() {
            book.let_in(tenant, now);
        }
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

    #[tokio::test]
    async fn a_paced_tenant_takes_turns_and_is_refused_beyond_a_second() {
        let a = Admission::default();
        a.pace("noisy", 20);
        let started = Instant::now();
        for _ in 0..6 {
            drop(a.enter("noisy").await.unwrap());
        }
        // Six turns, 50 ms apart.
        assert!(started.elapsed() >= Duration::from_millis(250));
        // One a second: the turn a second off is granted, the next refused.
        a.pace("slow", 1);
        assert!(a.turn("slow").unwrap().is_some());
        assert!(a.turn("slow").unwrap().is_some());
        assert_eq!(a.turn("slow"), Err(TooMany));
        // Others are not paced; nor is a tenant paced at 0.
        assert_eq!(a.turn("quiet"), Ok(None));
        a.pace("free", 0);
        assert_eq!(a.turn("free"), Ok(None));
    }

    #[test]
    fn the_busiest_other_tenant_is_known_for_every_tenant() {
        let mut top = Top::default();
        assert_eq!(top.others("a"), None);
        top.raise("a", 3);
        assert_eq!((top.others("a"), top.others("b")), (None, Some(3)));
        top.raise("b", 2);
        assert_eq!((top.others("a"), top.others("b")), (Some(2), Some(3)));
        // b overtakes a: a's share is now the largest of anyone but b.
        top.raise("b", 5);
        assert_eq!((top.others("a"), top.others("b")), (Some(5), Some(3)));
        top.raise("c", 4);
        assert_eq!(top.others("b"), Some(4));
        // The leader growing moves nobody else.
        top.raise("b", 9);
        assert_eq!((top.others("b"), top.others("c")), (Some(4), Some(9)));
    }

    #[tokio::test]
    async fn among_many_tenants_the_share_is_the_busiest_others() {
        let a = Admission::default();
        // busy, alone at first, takes 5; then 500 tenants one each.
        let busy: Vec<_> = futures_util::future::join_all((0..5).map(|_| a.enter("busy")))
            .await
            .into_iter()
            .map(Result::unwrap)
            .collect();
        let names: Vec<String> = (0..500).map(|i| format!("t{i}")).collect();
        let mut held = Vec::new();
        for n in &names {
            held.push(a.enter(n).await.unwrap());
        }
        // Beside busy (5 in flight) a new tenant may have 5, not 2.
        let mut fresh = Vec::new();
        for _ in 0..5 {
            fresh.push(a.enter("fresh").await.unwrap());
        }
        let sixth = tokio::spawn({
            let a = a.clone();
            async move { a.enter("fresh").await.map(|_| ()) }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(
            !sixth.is_finished(),
            "fresh went past the busiest other's share"
        );
        drop(fresh.pop());
        tokio::time::timeout(Duration::from_secs(1), sixth)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        drop((busy, held));
    }

    #[tokio::test]
    async fn a_paced_tenant_does_not_count_toward_the_others_share() {
        let a = Admission::default();
        a.pace("noisy", 1000);
        let _noisy = a.enter("noisy").await.unwrap();
        // Beside an unpaced tenant with one in flight, quiet would be held
        // to FLOOR (2); beside a paced one it is not limited.
        let quiet = tokio::time::timeout(
            Duration::from_secs(1),
            futures_util::future::join_all((0..10).map(|_| a.enter("quiet"))),
        )
        .await
        .expect("quiet was held back by a paced tenant");
        assert_eq!(quiet.into_iter().filter(Result::is_ok).count(), 10);
    }
}
