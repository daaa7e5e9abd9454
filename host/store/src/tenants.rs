//! Tenant rows: identity, keys (the secret key encrypted), settings, and the
//! composition document with its optimistic-concurrency version.

use super::{Audit, Page, Store, StoreError, now_ms};
use sqlx::Row;
use sqlx::any::AnyRow;

/// A tenant as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantRow {
    /// Tenant id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Disabled tenants get no decisions.
    pub disabled: bool,
    /// Ed25519 public key (32 bytes).
    pub public_key: Vec<u8>,
    /// Ed25519 secret key, encrypted with the master key.
    pub secret_key: Vec<u8>,
    /// Settings document (JSON).
    pub settings: String,
    /// Composition document (JSON).
    pub composition: String,
    /// Composition version; 0 before the first save.
    pub composition_version: i64,
    /// Creation time (Unix ms).
    pub created_ms: i64,
    /// Last change (Unix ms).
    pub updated_ms: i64,
}

const COLUMNS: &str = "id, display_name, disabled, public_key, secret_key, settings, \
                       composition, composition_version, created_ms, updated_ms";

fn row(r: &AnyRow) -> Result<TenantRow, StoreError> {
    Ok(TenantRow {
        id: r.try_get("id")?,
        display_name: r.try_get("display_name")?,
        disabled: r.try_get::<i64, _>("disabled")? != 0,
        public_key: r.try_get("public_key")?,
        secret_key: r.try_get("secret_key")?,
        settings: r.try_get("settings")?,
        composition: r.try_get("composition")?,
        composition_version: r.try_get("composition_version")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
    })
}

/// The outcome of saving a composition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Saved {
    /// Saved; the new version.
    Ok(i64),
    /// The caller edited an older version; the current one.
    Stale(i64),
    /// No such tenant.
    NotFound,
}

impl Store {
    /// Inserts a tenant, recorded by `audit`; `false` when the id is taken.
    pub async fn create_tenant(&self, t: &TenantRow, audit: &Audit) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(&format!(
            "INSERT INTO tenants ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (id) DO NOTHING"
        ))
        .bind(&t.id)
        .bind(&t.display_name)
        .bind(i64::from(t.disabled))
        .bind(&t.public_key)
        .bind(&t.secret_key)
        .bind(&t.settings)
        .bind(&t.composition)
        .bind(t.composition_version)
        .bind(t.created_ms)
        .bind(t.updated_ms)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(false);
        }
        self.commit_change(tx, audit).await?;
        Ok(true)
    }

    /// One tenant.
    pub async fn tenant(&self, id: &str) -> Result<Option<TenantRow>, StoreError> {
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM tenants WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?;
        r.as_ref().map(row).transpose()
    }

    /// Tenants ordered by id, after `cursor`.
    pub async fn tenants(
        &self,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<TenantRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tenants WHERE id > $1 ORDER BY id LIMIT $2"
        ))
        .bind(cursor.unwrap_or(""))
        .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let rows = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(rows, limit, |t| t.id.clone()))
    }

    /// Every tenant id whose composition mentions `needle` (a quick
    /// prefilter; callers parse the documents).
    pub async fn tenants_mentioning(&self, needle: &str) -> Result<Vec<TenantRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM tenants WHERE composition LIKE $1 ORDER BY id"
        ))
        .bind(format!("%{}%", needle.replace(['%', '_'], "")))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row).collect()
    }

    /// Changes name, disabled flag and settings, recorded by `audit`;
    /// `None` leaves a field as is.
    pub async fn update_tenant(
        &self,
        id: &str,
        display_name: Option<&str>,
        disabled: Option<bool>,
        settings: Option<&str>,
        audit: &Audit,
    ) -> Result<Option<TenantRow>, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE tenants SET display_name = COALESCE($1, display_name), \
             disabled = COALESCE($2, disabled), settings = COALESCE($3, settings), \
             updated_ms = $4 WHERE id = $5",
        )
        .bind(display_name)
        .bind(disabled.map(i64::from))
        .bind(settings)
        .bind(now_ms())
        .bind(id)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            return Ok(None);
        }
        self.commit_change(tx, audit).await?;
        self.tenant(id).await
    }

    /// Saves a composition, recorded by `audit`, if the tenant's version is
    /// still `expected` (the new version is `expected + 1`).
    pub async fn save_composition(
        &self,
        id: &str,
        expected: i64,
        doc: &str,
        audit: &Audit,
    ) -> Result<Saved, StoreError> {
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE tenants SET composition = $1, composition_version = composition_version + 1, \
             updated_ms = $2 WHERE id = $3 AND composition_version = $4",
        )
        .bind(doc)
        .bind(now_ms())
        .bind(id)
        .bind(expected)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            drop(tx);
            return Ok(match self.tenant(id).await? {
                Some(t) => Saved::Stale(t.composition_version),
                None => Saved::NotFound,
            });
        }
        self.commit_change(tx, audit).await?;
        Ok(Saved::Ok(expected + 1))
    }
}
