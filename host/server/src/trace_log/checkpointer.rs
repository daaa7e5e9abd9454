//! Checkpoints: the tenant's Ed25519 key signs {tenant, sequence, head,
//! time} on demand and on a schedule (every N events or T ms, per tenant),
//! and each new checkpoint is published to the tenant's anchors. The fleet
//! log is checkpointed the same way with the fleet key, on the server's
//! fleet schedule, to the fleet's anchors ([`crate::trace_log::fleet_log`]). Servers
//! sharing a database may race to checkpoint the same head: one row wins
//! and only its maker publishes it. A head is signed only once the chain
//! since the previous checkpoint verifies ([`crate::trace_log::integrity`]).

use crate::state::{AppState, StateError};
use crate::tenants::settings::TenantSettings;
use crate::trace::{Checkpoint, SignedCheckpoint, parse_hash};
use crate::trace_log::anchors;
use crate::trace_log::events::FLEET_LOG;
use crate::trace_log::fleet_log;
use crate::trace_log::integrity::{self, Unverified};
use std::time::Duration;
use warden_store::{LogStatus, StoreError, now_ms};

/// Why a log's head is not signed.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The tenant is gone, or its settings do not load.
    #[error(transparent)]
    Tenant(#[from] StateError),
    /// The fleet log's key is not available.
    #[error(transparent)]
    FleetKey(#[from] fleet_log::FleetKeyError),
    /// The log's key does not open.
    #[error("the key of log `{log}` does not open: {source}")]
    Key {
        /// The log.
        log: String,
        /// Why.
        source: crate::keys::KeyError,
    },
    /// The log has no events yet.
    #[error("log `{0}` has no trace events to checkpoint yet")]
    Empty(String),
    /// The chain since the last checkpoint does not verify: refused and
    /// reported ([`crate::trace_log::integrity`]).
    #[error(transparent)]
    Unverified(#[from] Unverified),
    /// The head could not be signed.
    #[error("cannot sign the head of log `{log}`: {message}")]
    Sign {
        /// The log.
        log: String,
        /// Why.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How often the schedule is checked.
pub const TICK: Duration = Duration::from_millis(500);

/// Signs the current head of `log` (a tenant's, or the fleet log), unless
/// the latest checkpoint already covers it; returns the checkpoint that
/// covers the head.
pub async fn checkpoint_now(st: &AppState, log: &str) -> Result<SignedCheckpoint, CheckpointError> {
    // The key that signs the log, and where its checkpoints are published.
    let (key, anchors) = if log == FLEET_LOG {
        let key = fleet_log::signing_key(st).await?;
        (key, st.fleet_trace().anchors.clone())
    } else {
        let row = st.tenant_row(log).await?;
        let key = crate::keys::tenant_signing_key(st.master_key(), log, &row.secret_key).map_err(
            |source| CheckpointError::Key {
                log: log.to_owned(),
                source,
            },
        )?;
        let anchors = TenantSettings::stored(&row)?.trace_or_default().anchors;
        (key, anchors)
    };
    let Some((seq, head)) = st.store().trace_head(log).await? else {
        return Err(CheckpointError::Empty(log.to_owned()));
    };
    let latest = st.store().trace_checkpoint_latest(log).await?;
    if let Some(latest) = latest.as_ref()
        && latest.checkpoint.seq >= seq
    {
        return Ok(latest.clone());
    }
    // Only verified history is signed (see `integrity`).
    integrity::verify_before_signing(
        st.store(),
        st.alarms(),
        log,
        latest.as_ref(),
        &key.verifying_key(),
        (seq, &head),
    )
    .await
    .map_err(|e| match e {
        Unverified::Store(e) => CheckpointError::Store(e),
        e => CheckpointError::Unverified(e),
    })?;
    let head = parse_hash(&head).map_err(|e| warden_store::corrupt("head", e))?;
    let cp = Checkpoint::new(log, seq, &head, now_ms())
        .sign(&key)
        .map_err(|e| CheckpointError::Sign {
            log: log.to_owned(),
            message: e.to_string(),
        })?;
    if st.store().trace_checkpoint_put(&cp).await? {
        for e in anchors::publish(st.anchor_dir(), &anchors, &cp).await {
            tracing::warn!(log = %log, seq, error = %e, "checkpoint not anchored");
        }
        Ok(cp)
    } else {
        // Another server signed this head first; serve its checkpoint.
        Ok(st.store().trace_checkpoint_latest(log).await?.unwrap_or(cp))
    }
}

/// Whether a log is due for a checkpoint under its tenant's settings.
pub fn due(s: &LogStatus, every_events: u64, every_ms: u64, now: i64) -> bool {
    let by_count = every_events > 0 && s.seq.saturating_sub(s.checkpoint_seq) >= every_events;
    let elapsed = u64::try_from(now.saturating_sub(s.checkpoint_ms)).unwrap_or(0);
    let by_time = every_ms > 0 && elapsed >= every_ms;
    s.seq > s.checkpoint_seq && (by_count || by_time)
}

/// One pass of the schedule: checkpoints every tenant log that is due.
pub async fn run_once(st: &AppState) -> Result<usize, StoreError> {
    let now = now_ms();
    let mut made = 0;
    for s in st.store().trace_logs_behind().await? {
        let t = if s.tenant == FLEET_LOG {
            st.fleet_trace().clone()
        } else {
            let Some(row) = st.store().tenant(&s.tenant).await? else {
                continue;
            };
            match TenantSettings::stored(&row) {
                Ok(settings) => settings.trace_or_default(),
                // Reported, not guessed at: the log gets no checkpoint
                // until its settings load; the other logs still do.
                Err(e) => {
                    tracing::error!(log = %s.tenant, error = %e, "cannot read the log's checkpoint schedule");
                    continue;
                }
            }
        };
        if due(&s, t.checkpoint_every_events, t.checkpoint_every_ms, now) {
            match checkpoint_now(st, &s.tenant).await {
                Ok(_) => made += 1,
                // Refused and reported; the other logs still get theirs.
                Err(CheckpointError::Unverified(_)) => {}
                // One log's failure (its key cannot be opened, say) does not
                // keep the others from their checkpoints.
                Err(e) => tracing::error!(log = %s.tenant, error = %e, "cannot checkpoint the log"),
            }
        }
    }
    Ok(made)
}

/// Runs the schedule until the task is dropped.
pub async fn run(st: AppState, tick: Duration) {
    let mut t = tokio::time::interval(tick);
    t.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        t.tick().await;
        if let Err(e) = run_once(&st).await {
            tracing::error!(error = %e, "checkpoint schedule failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(seq: u64, cp: u64, cp_ms: i64) -> LogStatus {
        LogStatus {
            tenant: "t".into(),
            seq,
            checkpoint_seq: cp,
            checkpoint_ms: cp_ms,
        }
    }

    #[test]
    fn due_by_count_or_time_and_only_when_the_log_moved() {
        assert!(due(&status(1000, 0, 10_000), 1000, 0, 10_001));
        assert!(!due(&status(999, 0, 10_000), 1000, 0, 10_001));
        assert!(due(&status(5, 4, 0), 1000, 60_000, 60_000));
        assert!(!due(&status(5, 4, 1), 1000, 60_000, 60_000));
        assert!(!due(&status(4, 4, 0), 1, 1, 1_000_000));
        assert!(!due(&status(4, 0, 0), 0, 0, 1_000_000));
    }
}
