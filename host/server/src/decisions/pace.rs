//! Where a tenant's decisions are evaluated: in place on the async runtime,
//! or on the evaluation pool ([`warden_host::EvalPool`]).
//!
//! Evaluating on the pool costs two thread wake-ups and a hand-over of the
//! request and the decision between threads, more than three fast packs
//! take; so a tenant whose packs are fast is evaluated in place, one
//! decision at a time: a concurrent one goes to the pool, so that one
//! tenant's evaluations never occupy more than one runtime thread at once,
//! and a tenant alone still uses every core. (Waiting for the turn in place
//! instead saved the hop but capped a tenant at one core of evaluation.)
//!
//! Fast is judged by CPU time ([`crate::decisions::cpu_time`]), since on a busy machine
//! a preempted thread makes any evaluation look slow by wall time, and by a
//! budget rather than by one evaluation: evaluations that used
//! [`Pace::FAST`] or more are *slow*, and once a tenant's slow evaluations
//! add up to [`Pace::SLOW_BUDGET`] within [`Pace::PENALTY`], the tenant goes
//! to the pool for [`Pace::PENALTY`] (then it tries in place again). One-offs
//! (a new instance's first run, page faults of fresh memory, interrupts
//! charged to the thread: a few milliseconds now and then on a loaded
//! server) stay far below the budget; a pack that turns slow (a loop until
//! its deadline) spends it in two evaluations. So a slow tenant holds one
//! runtime thread for about [`Pace::SLOW_BUDGET`] per [`Pace::PENALTY`] (1%),
//! plus the evaluation that crosses the budget.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;
use warden_store::now_ms;

/// How fast a tenant's packs have been, and its turn to evaluate in place.
#[derive(Debug, Default)]
pub struct Pace {
    /// When the tenant may be evaluated in place again (Unix ms).
    slow_until_ms: AtomicI64,
    /// When the current budget window began (Unix ms).
    window_ms: AtomicI64,
    /// Slow CPU time spent in that window (µs).
    spent_us: AtomicI64,
    /// Whether a decision of the tenant is being evaluated in place.
    inline: AtomicBool,
}

/// While a decision is evaluated in place; dropping it frees the turn.
#[derive(Debug)]
pub struct Inline<'a>(&'a Pace);

impl Drop for Inline<'_> {
    fn drop(&mut self) {
        self.0.inline.store(false, Ordering::Release);
    }
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}

impl Pace {
    /// Evaluations that used at least this much CPU are slow.
    pub const FAST: Duration = Duration::from_millis(2);
    /// Slow CPU time a tenant may spend per [`Pace::PENALTY`] and stay in place.
    pub const SLOW_BUDGET: Duration = Duration::from_millis(100);
    /// The budget's window, and how long a tenant that spent it goes to the pool.
    pub const PENALTY: Duration = Duration::from_secs(10);

    /// The turn to evaluate in place, if the tenant is fast and no other
    /// decision of it is being evaluated in place; `None`: go to the pool.
    pub fn inline(&self) -> Option<Inline<'_>> {
        if self.is_slow(now_ms()) {
            return None;
        }
        self.inline
            .compare_exchange(false, true, Ordering::Acquire, Ordering::Relaxed)
            .ok()
            .map(|_| Inline(self))
    }

    /// Whether the tenant goes to the pool at `now`.
    fn is_slow(&self, now: i64) -> bool {
        now < self.slow_until_ms.load(Ordering::Relaxed)
    }

    /// Records the CPU time one evaluation took.
    pub fn took(&self, cpu: Duration) {
        if cpu >= Self::FAST {
            self.slow_at(now_ms(), cpu);
        }
    }

    fn slow_at(&self, now: i64, cpu: Duration) {
        // Concurrent updates may both start a window or both add: the
        // budget is approximate by one evaluation, never by more.
        let window = self.window_ms.load(Ordering::Relaxed);
        let spent = if now.saturating_sub(window) >= millis(Self::PENALTY) {
            self.window_ms.store(now, Ordering::Relaxed);
            self.spent_us.store(micros(cpu), Ordering::Relaxed);
            micros(cpu)
        } else {
            self.spent_us
                .fetch_add(micros(cpu), Ordering::Relaxed)
                .saturating_add(micros(cpu))
        };
        if spent >= micros(Self::SLOW_BUDGET) {
            self.slow_until_ms
                .store(now.saturating_add(millis(Self::PENALTY)), Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;
    const PENALTY: i64 = 10_000;
    const DEADLINE: Duration = Duration::from_millis(50);

    #[test]
    fn one_decision_at_a_time_in_place() {
        let p = Pace::default();
        let first = p.inline();
        assert!(first.is_some());
        assert!(
            p.inline().is_none(),
            "a second concurrent one goes to the pool"
        );
        drop(first);
        assert!(p.inline().is_some());
    }

    #[test]
    fn a_pack_that_runs_to_its_deadline_goes_to_the_pool_after_two_evaluations() {
        let p = Pace::default();
        p.slow_at(T0, DEADLINE);
        assert!(!p.is_slow(T0 + 1), "one slow evaluation is forgiven");
        p.slow_at(T0 + 5_000, DEADLINE);
        assert!(p.is_slow(T0 + 5_001));
        assert!(p.is_slow(T0 + 5_000 + PENALTY - 1));
        assert!(!p.is_slow(T0 + 5_000 + PENALTY), "then it tries again");
    }

    #[test]
    fn one_offs_of_a_few_milliseconds_never_send_a_tenant_to_the_pool() {
        let p = Pace::default();
        // Three a second for a minute: 30 ms of each 10 s window.
        for i in 0..180 {
            let now = T0 + i * 333;
            p.slow_at(now, Duration::from_millis(3));
            assert!(!p.is_slow(now + 1), "after {i}");
        }
    }

    #[test]
    fn a_steadily_slowish_pack_spends_the_budget() {
        let p = Pace::default();
        let mut pooled_after = None;
        for i in 0..100 {
            p.slow_at(T0 + i, Duration::from_millis(3));
            if p.is_slow(T0 + i) {
                pooled_after = Some(i + 1);
                break;
            }
        }
        assert_eq!(pooled_after, Some(34), "100 ms at 3 ms each");
    }

    #[test]
    fn fast_evaluations_spend_nothing() {
        let p = Pace::default();
        for _ in 0..100_000 {
            p.took(Pace::FAST / 2);
        }
        assert!(p.inline().is_some());
        p.took(DEADLINE);
        p.took(DEADLINE);
        assert!(p.inline().is_none());
    }
}
