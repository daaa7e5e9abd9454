//! Deadlines: every server looks for pending requests whose current step's
//! deadline has passed and fires each ([`service::expire`]). The firing is
//! a compare-and-swap of the request in the transaction that records it, so
//! with several servers on one database, and after restarts (the deadlines
//! are rows, not in-memory timers), each deadline fires exactly once.

use crate::approvals::error::ApprovalError;
use crate::approvals::service;
use crate::state::AppState;
use std::time::Duration;
use tokio::task::JoinSet;
use warden_store::{Due, now_ms};

/// How often each server looks for due deadlines: the most a deadline
/// fires late, plus the time to fire the ones before it.
pub const TICK: Duration = Duration::from_millis(250);

/// Due requests taken per look.
const BATCH: usize = 512;

/// Deadlines fired at once: their changes meet in their tenants' appender
/// lanes and commit together, so a busy tenant's deadlines do not wait for
/// one commit each (which, at 100 deadlines a second beside a busy tenant's
/// load on PostgreSQL, made them seconds late: BENCHMARKS.md).
const AT_ONCE: usize = 64;

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
        let mut firing = JoinSet::new();
        let mut failed = false;
        for d in due {
            if firing.len() >= AT_ONCE
                && let Some(done) = firing.join_next().await
            {
                failed |= !tally(done, &mut fired);
            }
            if failed {
                break;
            }
            let st = st.clone();
            firing.spawn(async move {
                let r = service::expire(&st, &d.tenant, &d.id).await;
                (d, r)
            });
        }
        while let Some(done) = firing.join_next().await {
            failed |= !tally(done, &mut fired);
        }
        // After a failure the rest waits for the next tick rather than spin.
        if failed || n < BATCH {
            return fired;
        }
    }
}

/// Counts one firing's outcome; `false` if it failed.
fn tally(
    done: Result<(Due, Result<bool, ApprovalError>), tokio::task::JoinError>,
    fired: &mut usize,
) -> bool {
    match done {
        Ok((_, Ok(true))) => {
            *fired += 1;
            true
        }
        Ok((_, Ok(false))) => true,
        Ok((d, Err(e))) => {
            tracing::error!(tenant = %d.tenant, approval = %d.id, error = %e,
                "cannot fire an approval deadline");
            false
        }
        Err(e) => {
            tracing::error!(error = %e, "an approval deadline's firing stopped");
            false
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
