//! Pruning: under the tenant's head-row lock (so replicas running it at
//! once serialize, and the second finds nothing left to do), expired
//! events up to a checkpointed sequence number lose their content and keep
//! their place as tombstones; a `pruning` event records the policy, the
//! bound and the running total, in the same transaction.

use super::trace::{save_head, write_events};
use super::{Store, StoreError, class_key};
use crate::new_event;
use sqlx::Row;
use std::collections::BTreeMap;
use warden_trace::{EventClass, PRUNING_KIND, PruningRecord};

/// What a pruning run did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PruneOutcome {
    /// The pruning event's record.
    pub record: PruningRecord,
    /// The pruning event's sequence number.
    pub seq: u64,
}

impl Store {
    /// Prunes `tenant`'s events with sequence number at most `through_seq`
    /// whose class has a cutoff and that were appended before it. `policy`
    /// names the policy in the pruning event. `None` when nothing expired.
    pub async fn trace_prune(
        &self,
        tenant: &str,
        policy: &str,
        cutoffs: &BTreeMap<EventClass, i64>,
        through_seq: u64,
    ) -> Result<Option<PruneOutcome>, StoreError> {
        if cutoffs.is_empty() {
            return Ok(None);
        }
        let mut tx = self.pool.begin().await?;
        let mut chain = self.lock_head(&mut tx, tenant).await?;
        let mut sql = String::from(
            "UPDATE trace_events SET event = '', pruned = 1 WHERE tenant = $1 AND pruned = 0 \
             AND seq <= $2 AND kind <> $3 AND (",
        );
        for (i, _) in cutoffs.iter().enumerate() {
            if i > 0 {
                sql.push_str(" OR ");
            }
            sql.push_str(&format!(
                "(class = ${} AND at_ms < ${})",
                4 + 2 * i,
                5 + 2 * i
            ));
        }
        sql.push(')');
        let mut q = sqlx::query(&sql)
            .bind(tenant)
            .bind(i64::try_from(through_seq).unwrap_or(i64::MAX))
            .bind(PRUNING_KIND);
        for (class, cutoff) in cutoffs {
            q = q.bind(class_key(*class)).bind(*cutoff);
        }
        let pruned = q.execute(&mut *tx).await?.rows_affected();
        if pruned == 0 {
            tx.rollback().await?;
            return Ok(None);
        }
        let total: i64 =
            sqlx::query("SELECT COUNT(*) FROM trace_events WHERE tenant = $1 AND pruned = 1")
                .bind(tenant)
                .fetch_one(&mut *tx)
                .await?
                .try_get(0)?;
        let record = PruningRecord {
            policy: policy.to_owned(),
            through_seq,
            pruned,
            pruned_total: u64::try_from(total).unwrap_or(0),
            cutoffs: cutoffs
                .iter()
                .map(|(c, ms)| (class_key(*c).to_owned(), *ms))
                .collect(),
        };
        let event = new_event(EventClass::Admin, PRUNING_KIND, &record)?;
        let appended = write_events(&mut tx, tenant, &mut chain, &[event], self.backend()).await?;
        save_head(&mut tx, tenant, &chain).await?;
        tx.commit().await?;
        Ok(Some(PruneOutcome {
            record,
            seq: appended.first().map(|a| a.seq).unwrap_or(0),
        }))
    }
}
