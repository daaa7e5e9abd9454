//! Rollout rows and the shadow-mode differences they collect.

use super::{Audit, Page, Store, StoreError, corrupt, now_ms};
use sqlx::Row;
use sqlx::any::AnyRow;
use warden_host::rollout::{Rollout, State};

/// A rollout as stored: the parsed document and its text, which a change
/// must present to replace it ([`Store::update_rollout`] compares it).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredRollout {
    /// The rollout.
    pub rollout: Rollout,
    /// The stored document, the version a change replaces.
    pub doc: String,
}

/// The `state` column: what the open-rollout index and queries match on.
fn state_key(s: State) -> &'static str {
    match s {
        State::Active => "active",
        State::Paused => "paused",
        State::RolledBack => "rolled-back",
        State::Completed => "completed",
    }
}

fn parse(doc: &str) -> Result<Rollout, StoreError> {
    serde_json::from_str(doc).map_err(|e| corrupt("rollout", e))
}

fn encode(r: &Rollout) -> Result<String, StoreError> {
    serde_json::to_string(r).map_err(|e| corrupt("rollout", e))
}

/// A decision where the shadow version disagreed with the enforced one.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowDiffRow {
    /// Difference id (time-ordered).
    pub id: String,
    /// The rollout.
    pub rollout_id: String,
    /// The tenant.
    pub tenant: String,
    /// The request's id.
    pub request_id: String,
    /// The enforced decision's id.
    pub decision_id: String,
    /// Enforced verdict.
    pub enforced: String,
    /// Shadow verdict.
    pub shadow: String,
    /// JSON: the request and both decisions.
    pub detail: String,
    /// When (Unix ms).
    pub at_ms: i64,
}

/// The outcome of a rollout write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutWrite {
    /// Written.
    Ok,
    /// Another rollout of the pack is open, or the row changed meanwhile.
    Conflict,
}

fn diff_row(r: &AnyRow) -> Result<ShadowDiffRow, StoreError> {
    Ok(ShadowDiffRow {
        id: r.try_get("id")?,
        rollout_id: r.try_get("rollout_id")?,
        tenant: r.try_get("tenant")?,
        request_id: r.try_get("request_id")?,
        decision_id: r.try_get("decision_id")?,
        enforced: r.try_get("enforced")?,
        shadow: r.try_get("shadow")?,
        detail: r.try_get("detail")?,
        at_ms: r.try_get("at_ms")?,
    })
}

impl Store {
    /// Inserts a new rollout, recorded by `audit`; `Conflict` when the pack
    /// has an open one.
    pub async fn insert_rollout(
        &self,
        r: &Rollout,
        audit: &Audit,
    ) -> Result<RolloutWrite, StoreError> {
        let doc = encode(r)?;
        let (id, pack, state) = (&r.id, &r.pack, state_key(r.state));
        let mut tx = self.pool.begin().await?;
        let open = sqlx::query(
            "SELECT COUNT(*) FROM rollouts WHERE pack = $1 AND state IN ('active', 'paused')",
        )
        .bind(pack)
        .fetch_one(&mut *tx)
        .await?
        .try_get::<i64, _>(0)?;
        if open > 0 {
            return Ok(RolloutWrite::Conflict);
        }
        let now = now_ms();
        let done = sqlx::query(
            "INSERT INTO rollouts (id, pack, state, doc, created_ms, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id)
        .bind(pack)
        .bind(state)
        .bind(&doc)
        .bind(now)
        .bind(now)
        .execute(&mut *tx)
        .await;
        match done {
            Ok(_) => {}
            // The partial unique index caught a concurrent start.
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                return Ok(RolloutWrite::Conflict);
            }
            Err(e) => return Err(e.into()),
        }
        self.commit_change(tx, audit).await?;
        Ok(RolloutWrite::Ok)
    }

    /// Replaces a rollout's document with `r`, recorded by `audit`, if it is
    /// still `old_doc` (from [`StoredRollout::doc`]); when `current` is
    /// given, also makes that the pack's current version.
    pub async fn update_rollout(
        &self,
        old_doc: &str,
        r: &Rollout,
        current: Option<(&str, &str)>,
        audit: &Audit,
    ) -> Result<RolloutWrite, StoreError> {
        let doc = encode(r)?;
        let (id, state) = (&r.id, state_key(r.state));
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE rollouts SET state = $1, doc = $2, updated_ms = $3 WHERE id = $4 AND doc = $5",
        )
        .bind(state)
        .bind(&doc)
        .bind(now_ms())
        .bind(id)
        .bind(old_doc)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(RolloutWrite::Conflict);
        }
        if let Some((name, version)) = current {
            sqlx::query(
                "INSERT INTO pack_current (name, version) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET version = excluded.version",
            )
            .bind(name)
            .bind(version)
            .execute(&mut *tx)
            .await?;
        }
        self.commit_change(tx, audit).await?;
        Ok(RolloutWrite::Ok)
    }

    /// A rollout, with its stored document.
    pub async fn rollout(&self, id: &str) -> Result<Option<StoredRollout>, StoreError> {
        let r = sqlx::query("SELECT doc FROM rollouts WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        let Some(r) = r else { return Ok(None) };
        let doc: String = r.try_get(0)?;
        Ok(Some(StoredRollout {
            rollout: parse(&doc)?,
            doc,
        }))
    }

    /// Rollouts ordered by id, after `cursor`.
    pub async fn rollouts(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<Rollout>, StoreError> {
        let rows = sqlx::query("SELECT id, doc FROM rollouts WHERE id > $1 ORDER BY id LIMIT $2")
            .bind(cursor.unwrap_or(""))
            .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let rows = rows
            .iter()
            .map(|r| parse(&r.try_get::<String, _>(1)?))
            .collect::<Result<Vec<Rollout>, StoreError>>()?;
        Ok(Page::from_rows(rows, limit, |r| r.id.clone()))
    }

    /// Open (active or paused) rollouts.
    pub async fn open_rollouts(&self) -> Result<Vec<Rollout>, StoreError> {
        let rows = sqlx::query("SELECT doc FROM rollouts WHERE state IN ('active', 'paused')")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| parse(&r.try_get::<String, _>(0)?))
            .collect()
    }

    /// Records a shadow difference.
    pub async fn insert_shadow_diff(&self, d: &ShadowDiffRow) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO shadow_diffs (id, rollout_id, tenant, request_id, decision_id, \
             enforced, shadow, detail, at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(&d.id)
        .bind(&d.rollout_id)
        .bind(&d.tenant)
        .bind(&d.request_id)
        .bind(&d.decision_id)
        .bind(&d.enforced)
        .bind(&d.shadow)
        .bind(&d.detail)
        .bind(d.at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Shadow differences of a rollout, optionally of one tenant, after `cursor`.
    pub async fn shadow_diffs(
        &self,
        rollout_id: &str,
        tenant: Option<&str>,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<(Page<ShadowDiffRow>, i64), StoreError> {
        let rows = sqlx::query(
            "SELECT id, rollout_id, tenant, request_id, decision_id, enforced, shadow, detail, at_ms \
             FROM shadow_diffs WHERE rollout_id = $1 AND ($2 = '' OR tenant = $2) AND id > $3 \
             ORDER BY id LIMIT $4",
        )
        .bind(rollout_id)
        .bind(tenant.unwrap_or(""))
        .bind(cursor.unwrap_or(""))
        .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let total = sqlx::query(
            "SELECT COUNT(*) FROM shadow_diffs WHERE rollout_id = $1 AND ($2 = '' OR tenant = $2)",
        )
        .bind(rollout_id)
        .bind(tenant.unwrap_or(""))
        .fetch_one(&self.pool)
        .await?
        .try_get::<i64, _>(0)?;
        let rows = rows.iter().map(diff_row).collect::<Result<Vec<_>, _>>()?;
        Ok((Page::from_rows(rows, limit, |d| d.id.clone()), total))
    }
}
