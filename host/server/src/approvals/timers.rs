//! Deadlines: every server looks for pending requests whose current step's
//! deadline has passed and fires each ([`service::expire`]). The firing is
//! a compare-and-swap of the request in the transaction that records it, so
//! with several servers on one database, and after restarts (the deadlines
//! are rows, not in-memory timers), each deadline fires exactly once.

use crate::approvals::service;
use crate::state::AppState;
use std::time::Duration;
use warden_store::now_ms;

/// How often each server looks for due deadlines: the most a deadline
/// fires late, plus the time to fire the ones before it.
pub const TICK: Duration = Duration::from_millis(250);

/// Due requests taken per look.
const BATCH: usize = 512;

/// Fires every deadline due now; how many this server fired.
pub async fn fire_due(st: &AppState) -> usize {
    let mut fired = 0;
    loop {
        let due = match st.store().due_approvals(now_ms(), BATCH).await {
            Ok(d) => d,
            Err(e) => {
                tracing::error!(error = %e, "cannot look for due approval deadlines");
                return fired;
            }
        };
        let n = due.len();
        for d in due {
            match service::expire(st, &d.tenant, &d.id).await {
                Ok(true) => fired += 1,
                Ok(false) => {}
                Err(e) => {
                    tracing::error!(tenant = %d.tenant, approval = %d.id, error = %e,
                        "cannot fire an approval deadline");
                    // Leave the rest for the next tick rather than spin on a failure.
                    return fired;
                }
            }
        }
        if n < BATCH {
            return fired;
        }
    }
}

/// Fires due deadlines every `tick` until aborted.
pub async fn run(st: AppState, tick: Duration) {
    let mut interval = tokio::time::interval(tick);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        fire_due(&st).await;
    }
}
