//! The pack catalog's rows: immutable versions, content-addressed bytes,
//! and each fleet pack's current version.

use super::{Audit, Page, Store, StoreError};
use sqlx::Row;
use sqlx::any::AnyRow;

/// Who can see a pack: the whole fleet, or one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PackScope {
    /// Visible to every tenant; uploaded by fleet admins.
    Fleet,
    /// Private to this tenant.
    Tenant(String),
}

impl PackScope {
    /// The value stored in the `scope` column.
    pub fn key(&self) -> &str {
        match self {
            PackScope::Fleet => crate::FLEET,
            PackScope::Tenant(t) => t,
        }
    }
}

/// One pack version's metadata as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct PackRow {
    /// `*` or the owning tenant.
    pub scope: String,
    /// Pack name.
    pub name: String,
    /// Pack version.
    pub version: String,
    /// `sha256:...` of the bytes.
    pub digest: String,
    /// Byte size.
    pub size: i64,
    /// The pack's `info`, as its `info` export returned it at upload.
    pub info: warden_host::PackInfo,
    /// The trusted publisher whose signature verified, if any.
    pub publisher: Option<String>,
    /// The signature (base64), if any.
    pub signature: Option<String>,
    /// Upload time (Unix ms).
    pub uploaded_ms: i64,
    /// The token subject that uploaded it.
    pub uploaded_by: String,
}

const COLUMNS: &str =
    "scope, name, version, digest, size, info, publisher, signature, uploaded_ms, uploaded_by";

fn row(r: &AnyRow) -> Result<PackRow, StoreError> {
    Ok(PackRow {
        scope: r.try_get("scope")?,
        name: r.try_get("name")?,
        version: r.try_get("version")?,
        digest: r.try_get("digest")?,
        size: r.try_get("size")?,
        info: serde_json::from_str(&r.try_get::<String, _>("info")?)
            .map_err(|e| crate::corrupt("pack info", e))?,
        publisher: r.try_get("publisher")?,
        signature: r.try_get("signature")?,
        uploaded_ms: r.try_get("uploaded_ms")?,
        uploaded_by: r.try_get("uploaded_by")?,
    })
}

/// The outcome of storing a pack version.
#[derive(Debug, Clone, PartialEq)]
pub enum Inserted {
    /// New version stored.
    Created,
    /// The same bytes were already stored under this version.
    Unchanged(PackRow),
    /// This version exists with other bytes.
    Conflict(PackRow),
}

impl Store {
    /// Stores a pack version and its bytes, recorded by `audit` (only when
    /// the version is new). The first fleet version of a name becomes its
    /// current version.
    pub async fn insert_pack(
        &self,
        p: &PackRow,
        bytes: &[u8],
        audit: &Audit,
    ) -> Result<Inserted, StoreError> {
        let info = serde_json::to_string(&p.info).map_err(|e| crate::corrupt("pack info", e))?;
        let mut tx = self.pool.begin().await?;
        let existing = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM packs WHERE scope = $1 AND name = $2 AND version = $3"
        ))
        .bind(&p.scope)
        .bind(&p.name)
        .bind(&p.version)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some(e) = existing.as_ref().map(row).transpose()? {
            return Ok(if e.digest == p.digest {
                Inserted::Unchanged(e)
            } else {
                Inserted::Conflict(e)
            });
        }
        sqlx::query("INSERT INTO pack_blobs (digest, bytes) VALUES ($1, $2) ON CONFLICT (digest) DO NOTHING")
            .bind(&p.digest)
            .bind(bytes)
            .execute(&mut *tx)
            .await?;
        let done = sqlx::query(&format!(
            "INSERT INTO packs ({COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (scope, name, version) DO NOTHING"
        ))
        .bind(&p.scope)
        .bind(&p.name)
        .bind(&p.version)
        .bind(&p.digest)
        .bind(p.size)
        .bind(info)
        .bind(p.publisher.as_deref())
        .bind(p.signature.as_deref())
        .bind(p.uploaded_ms)
        .bind(&p.uploaded_by)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            // A concurrent upload of the same version won the race.
            drop(tx);
            return match self.pack(&p.scope, &p.name, &p.version).await? {
                Some(e) if e.digest == p.digest => Ok(Inserted::Unchanged(e)),
                Some(e) => Ok(Inserted::Conflict(e)),
                None => Err(super::corrupt("pack row", "vanished during upload")),
            };
        }
        if p.scope == crate::FLEET {
            sqlx::query(
                "INSERT INTO pack_current (name, version) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            )
            .bind(&p.name)
            .bind(&p.version)
            .execute(&mut *tx)
            .await?;
        }
        self.commit_change(tx, audit).await?;
        Ok(Inserted::Created)
    }

    /// One pack version.
    pub async fn pack(
        &self,
        scope: &str,
        name: &str,
        version: &str,
    ) -> Result<Option<PackRow>, StoreError> {
        let r = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM packs WHERE scope = $1 AND name = $2 AND version = $3"
        ))
        .bind(scope)
        .bind(name)
        .bind(version)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// Every version of a pack in a scope (unordered; callers sort by semver).
    pub async fn pack_versions(&self, scope: &str, name: &str) -> Result<Vec<PackRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM packs WHERE scope = $1 AND name = $2"
        ))
        .bind(scope)
        .bind(name)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(row).collect()
    }

    /// Pack names in a scope, ordered, after `cursor`.
    pub async fn pack_names(
        &self,
        scope: &str,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<String>, StoreError> {
        let rows = sqlx::query(
            "SELECT DISTINCT name FROM packs WHERE scope = $1 AND name > $2 ORDER BY name LIMIT $3",
        )
        .bind(scope)
        .bind(cursor.unwrap_or(""))
        .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        let names = rows
            .iter()
            .map(|r| r.try_get::<String, _>(0))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(names, limit, Clone::clone))
    }

    /// The bytes with this digest.
    pub async fn pack_bytes(&self, digest: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let r = sqlx::query("SELECT bytes FROM pack_blobs WHERE digest = $1")
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.map(|r| r.try_get::<Vec<u8>, _>(0)).transpose()?)
    }

    /// The current version of a fleet pack.
    pub async fn current_version(&self, name: &str) -> Result<Option<String>, StoreError> {
        let r = sqlx::query("SELECT version FROM pack_current WHERE name = $1")
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        Ok(r.map(|r| r.try_get::<String, _>(0)).transpose()?)
    }

    /// Every fleet pack's current version.
    pub async fn current_versions(&self) -> Result<Vec<(String, String)>, StoreError> {
        let rows = sqlx::query("SELECT name, version FROM pack_current")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get(0)?, r.try_get(1)?)))
            .collect()
    }

    /// The fleet layer and its version.
    pub async fn fleet_layer(&self) -> Result<(warden_host::Layer, i64), StoreError> {
        let r = sqlx::query("SELECT layer, version FROM fleet_layer WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        let layer = serde_json::from_str(&r.try_get::<String, _>(0)?)
            .map_err(|e| crate::corrupt("fleet layer", e))?;
        Ok((layer, r.try_get(1)?))
    }

    /// Saves the fleet layer, recorded by `audit`, if its version is still
    /// `expected`; the new version (`expected + 1`), or `Err(current)` when stale.
    pub async fn save_fleet_layer(
        &self,
        expected: i64,
        layer: &warden_host::Layer,
        audit: &Audit,
    ) -> Result<Result<i64, i64>, StoreError> {
        let doc = serde_json::to_string(layer).map_err(|e| crate::corrupt("fleet layer", e))?;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE fleet_layer SET layer = $1, version = version + 1 WHERE id = 1 AND version = $2",
        )
        .bind(&doc)
        .bind(expected)
        .execute(&mut *tx)
        .await?;
        if done.rows_affected() == 0 {
            drop(tx);
            return Ok(Err(self.fleet_layer().await?.1));
        }
        self.commit_change(tx, audit).await?;
        Ok(Ok(expected + 1))
    }
}
