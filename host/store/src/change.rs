//! Configuration changes commit together with the admin event that records
//! them (docs/adr/0013-admin-events-atomic.md): a tenant, composition,
//! fleet layer, pack or rollout change and its event in the trace log are
//! one transaction, so the log never misses a change that was made, and
//! never shows one that was not.

use super::{NewEvent, Store, StoreError};

/// An admin event for the log it belongs to (a tenant's, or the fleet log).
#[derive(Debug, Clone)]
pub struct Audit {
    /// The log: a tenant id, or the fleet log's id.
    pub log: String,
    /// The event recording the change.
    pub event: NewEvent,
}

impl Store {
    /// Ends a configuration change: bumps the configuration generation,
    /// appends `audit` to its log under the log's head-row lock, and commits
    /// all of it at once. If the event cannot be appended nothing commits
    /// and the error says so ([`StoreError::NotRecorded`]).
    ///
    /// Every change takes the generation row before any head row, so two
    /// changes cannot wait on each other's heads; a decision's append holds
    /// a head row and nothing else.
    pub(super) async fn commit_change(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        audit: &Audit,
    ) -> Result<(), StoreError> {
        sqlx::query("UPDATE generation SET value = value + 1 WHERE id = 1")
            .execute(&mut *tx)
            .await?;
        self.append_in(&mut tx, &audit.log, std::slice::from_ref(&audit.event))
            .await
            .map_err(|e| StoreError::NotRecorded {
                log: audit.log.clone(),
                message: e.to_string(),
            })?;
        tx.commit().await?;
        Ok(())
    }
}
