//! Retention: per tenant and event class, events older than the tenant's
//! period are pruned, only up to a signed checkpoint (made first), leaving
//! tombstones and a `pruning` event (see [`crate::trace::PruningRecord`]).
//! Runs on demand and on a timer on every server; runs on several servers
//! at once serialize on the tenant's log and the later ones find nothing.

use crate::state::{AppState, StateError};
use crate::tenants::settings::TenantSettings;
use crate::trace::EventClass;
use crate::trace_log::checkpointer;
use crate::trace_log::checkpointer::CheckpointError;
use std::collections::BTreeMap;
use std::time::Duration;
use warden_store::{PruneOutcome, StoreError, now_ms};

/// Why a tenant's log was not pruned.
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    /// The tenant is gone.
    #[error(transparent)]
    Tenant(#[from] StateError),
    /// What it would prune up to could not be checkpointed first.
    #[error(transparent)]
    Checkpoint(#[from] CheckpointError),
    /// The store failed, or the tenant's settings do not load.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Default interval between pruning runs.
pub const INTERVAL: Duration = Duration::from_secs(3600);

const DAY_MS: i64 = 24 * 3600 * 1000;

/// Prunes one tenant now under its retention settings. `None` when it has
/// no retention policy, no log, or nothing has expired.
pub async fn prune_now(st: &AppState, tenant: &str) -> Result<Option<PruneOutcome>, PruneError> {
    let row = st.tenant_row(tenant).await?;
    let settings = TenantSettings::stored(&row)?;
    let Some(retention) = settings.retention else {
        return Ok(None);
    };
    let now = now_ms();
    let cutoffs: BTreeMap<EventClass, i64> = EventClass::ALL
        .into_iter()
        .filter_map(|c| {
            retention
                .days(c)
                .map(|d| (c, now.saturating_sub(i64::from(d).saturating_mul(DAY_MS))))
        })
        .collect();
    if cutoffs.is_empty() || st.store().trace_head(tenant).await?.is_none() {
        return Ok(None);
    }
    // Only what a signed checkpoint covers may be pruned.
    let cp = checkpointer::checkpoint_now(st, tenant).await?;
    let out = st
        .store()
        .trace_prune(tenant, &retention.describe(), &cutoffs, cp.checkpoint.seq)
        .await?;
    Ok(out)
}

/// One pass over every tenant with a retention policy.
pub async fn run_once(st: &AppState) -> Result<u64, PruneError> {
    let mut cursor: Option<String> = None;
    let mut pruned = 0;
    loop {
        let page = st.store().tenants(cursor.as_deref(), 200).await?;
        for t in &page.items {
            if t.settings.contains("\"retention\"")
                && let Some(out) = prune_now(st, &t.id).await?
            {
                pruned += out.record.pruned;
            }
        }
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => return Ok(pruned),
        }
    }
}

/// Prunes on a timer until the task is dropped.
pub async fn run(st: AppState, every: Duration) {
    let mut t = tokio::time::interval(every);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        t.tick().await;
        if let Err(e) = run_once(&st).await {
            tracing::error!(error = %e, "retention failed");
        }
    }
}
