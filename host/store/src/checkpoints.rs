//! Signed checkpoints of each tenant's chain, and what the checkpointer
//! needs to decide when the next one is due.

use super::{Store, StoreError};
use sqlx::Row;
use warden_trace::{Checkpoint, SignedCheckpoint};

/// A log's head and its latest checkpoint: what scheduling reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogStatus {
    /// The log (tenant id).
    pub tenant: String,
    /// Its last sequence number.
    pub seq: u64,
    /// The latest checkpoint's sequence number (0 if none).
    pub checkpoint_seq: u64,
    /// When the latest checkpoint was made (Unix ms; 0 if none).
    pub checkpoint_ms: i64,
}

fn seq(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn signed(r: &sqlx::any::AnyRow, tenant: &str) -> Result<SignedCheckpoint, StoreError> {
    Ok(SignedCheckpoint {
        checkpoint: Checkpoint {
            tenant: tenant.to_owned(),
            seq: seq(r.try_get(0)?),
            head: r.try_get(1)?,
            at_ms: r.try_get(2)?,
        },
        signature: r.try_get(3)?,
    })
}

impl Store {
    /// Stores a checkpoint; `false` if one at that sequence number exists
    /// (another server made it first).
    pub async fn trace_checkpoint_put(&self, cp: &SignedCheckpoint) -> Result<bool, StoreError> {
        let c = &cp.checkpoint;
        let r = sqlx::query(
            "INSERT INTO trace_checkpoints (tenant, seq, head, at_ms, signature) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (tenant, seq) DO NOTHING",
        )
        .bind(&c.tenant)
        .bind(i64::try_from(c.seq).unwrap_or(i64::MAX))
        .bind(&c.head)
        .bind(c.at_ms)
        .bind(&cp.signature)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// The tenant's latest checkpoint.
    pub async fn trace_checkpoint_latest(
        &self,
        tenant: &str,
    ) -> Result<Option<SignedCheckpoint>, StoreError> {
        let r = sqlx::query(
            "SELECT seq, head, at_ms, signature FROM trace_checkpoints WHERE tenant = $1 \
             ORDER BY seq DESC LIMIT 1",
        )
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        r.map(|r| signed(&r, tenant)).transpose()
    }

    /// The tenant's checkpoints, oldest first, after `after_seq` (paged).
    pub async fn trace_checkpoints(
        &self,
        tenant: &str,
        after_seq: u64,
        limit: i64,
    ) -> Result<Vec<SignedCheckpoint>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, head, at_ms, signature FROM trace_checkpoints WHERE tenant = $1 \
             AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(tenant)
        .bind(i64::try_from(after_seq).unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(|r| signed(r, tenant)).collect()
    }

    /// Every stored checkpoint of the tenant, oldest first.
    pub async fn trace_checkpoints_all(
        &self,
        tenant: &str,
    ) -> Result<Vec<SignedCheckpoint>, StoreError> {
        let mut all = Vec::new();
        loop {
            let after = all
                .last()
                .map_or(0, |c: &SignedCheckpoint| c.checkpoint.seq);
            let page = self.trace_checkpoints(tenant, after, 1000).await?;
            let done = page.len() < 1000;
            all.extend(page);
            if done {
                return Ok(all);
            }
        }
    }

    /// Every log whose head moved past its latest checkpoint.
    pub async fn trace_logs_behind(&self) -> Result<Vec<LogStatus>, StoreError> {
        // Each log's latest checkpoint by a seek on the (tenant, seq) key,
        // rather than grouping every checkpoint ever made on each pass.
        let rows = sqlx::query(
            "SELECT h.tenant, h.seq, COALESCE(c.seq, 0), COALESCE(c.at_ms, 0) FROM trace_heads h \
             LEFT JOIN trace_checkpoints c ON c.tenant = h.tenant AND c.seq = \
                 (SELECT MAX(seq) FROM trace_checkpoints m WHERE m.tenant = h.tenant) \
             WHERE h.seq > COALESCE(c.seq, 0)",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LogStatus {
                    tenant: r.try_get(0)?,
                    seq: seq(r.try_get(1)?),
                    checkpoint_seq: seq(r.try_get(2)?),
                    checkpoint_ms: r.try_get(3)?,
                })
            })
            .collect()
    }

    /// The fleet log's key pair as stored: the public key and the secret
    /// sealed with the master key.
    pub async fn fleet_key(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>, StoreError> {
        let r = sqlx::query("SELECT public_key, secret_key FROM fleet_key WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| Ok((r.try_get(0)?, r.try_get(1)?))).transpose()
    }

    /// Stores the fleet log's key pair unless one is stored already (by
    /// another server first), and returns the one stored.
    pub async fn fleet_key_init(
        &self,
        public: &[u8],
        sealed: &[u8],
    ) -> Result<(Vec<u8>, Vec<u8>), StoreError> {
        sqlx::query(
            "INSERT INTO fleet_key (id, public_key, secret_key, created_ms) \
             VALUES (1, $1, $2, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(public)
        .bind(sealed)
        .bind(super::now_ms())
        .execute(&self.pool)
        .await?;
        self.fleet_key()
            .await?
            .ok_or_else(|| super::corrupt("fleet key", "not stored after it was written"))
    }
}
