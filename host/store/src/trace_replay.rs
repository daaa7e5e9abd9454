//! Reading recorded decisions back for replay and what-if: one event by its
//! decision id or sequence number, and decision events by range.

use super::trace::{SELECT_ROW as ROW, StoredRow, stored_row};
use super::{Store, StoreError};

fn seq_param(seq: u64) -> i64 {
    i64::try_from(seq).unwrap_or(i64::MAX)
}

impl Store {
    /// The event recording decision `decision_id` in `tenant`'s log (a
    /// tombstone if retention pruned it), found by the decision-id column.
    pub async fn trace_event_by_decision(
        &self,
        tenant: &str,
        decision_id: &str,
    ) -> Result<Option<StoredRow>, StoreError> {
        let r = sqlx::query(&format!(
            "{ROW} WHERE tenant = $1 AND decision_id = $2 ORDER BY seq LIMIT 1"
        ))
        .bind(tenant)
        .bind(decision_id)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(stored_row).transpose()
    }

    /// The event at `seq` in `tenant`'s log.
    pub async fn trace_event_at(
        &self,
        tenant: &str,
        seq: u64,
    ) -> Result<Option<StoredRow>, StoreError> {
        let r = sqlx::query(&format!("{ROW} WHERE tenant = $1 AND seq = $2"))
            .bind(tenant)
            .bind(seq_param(seq))
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(stored_row).transpose()
    }

    /// Up to `limit` decision events (tombstones included) with
    /// `from_seq <= seq <= to_seq`, oldest first.
    pub async fn trace_decisions(
        &self,
        tenant: &str,
        from_seq: u64,
        to_seq: u64,
        limit: i64,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "{ROW} WHERE tenant = $1 AND seq >= $2 AND seq <= $3 AND kind = 'decision' \
             ORDER BY seq LIMIT $4"
        ))
        .bind(tenant)
        .bind(seq_param(from_seq))
        .bind(seq_param(to_seq))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_row).collect()
    }

    /// The last `limit` decision events (tombstones included) with
    /// `from_seq <= seq <= to_seq`, oldest first.
    pub async fn trace_decisions_last(
        &self,
        tenant: &str,
        from_seq: u64,
        to_seq: u64,
        limit: i64,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "{ROW} WHERE tenant = $1 AND seq >= $2 AND seq <= $3 AND kind = 'decision' \
             ORDER BY seq DESC LIMIT $4"
        ))
        .bind(tenant)
        .bind(seq_param(from_seq))
        .bind(seq_param(to_seq))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        let mut rows = rows.iter().map(stored_row).collect::<Result<Vec<_>, _>>()?;
        rows.reverse();
        Ok(rows)
    }
}
