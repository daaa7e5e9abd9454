//! # warden-store
//!
//! The control plane's persistence: one [`Store`] over SQLite (the embedded
//! default) or PostgreSQL, chosen by the database URL. Both backends run
//! their own versioned sqlx migrations (`migrations/{sqlite,postgres}`) at
//! start and share every query (portable SQL with `$n` parameters), so
//! behaviour cannot drift between them. Tenants, the pack catalog,
//! rollouts, approvals, and each tenant's hash-chained trace log (appends, heads,
//! checkpoints, retention, queries) live here; what the rows mean is the
//! server's (`warden-server`).
#![deny(missing_docs)]

mod approval_writes;
mod approvals;
mod change;
mod checkpoints;
mod custody;
mod packs;
mod retention;
mod rollouts;
mod tenants;
mod trace;
mod trace_query;
mod trace_replay;

pub use approval_writes::APPROVALS_CHANNEL;
pub use approvals::{ApprovalRow, Change, Due, OutboxRow, PendingFilter};
pub use change::Audit;
pub use checkpoints::LogStatus;
pub use packs::{Inserted, PackRow, PackScope};
pub use retention::PruneOutcome;
pub use rollouts::{RolloutWrite, ShadowDiffRow, StoredRollout};
pub use tenants::{Saved, TenantRow};
pub use trace::{
    Appended, Chained, EventIndex, NewEvent, StoredRow, chain_events, class_key, new_event,
    parse_class, stored_row,
};
pub use trace_query::{
    FilterError, PackFilter, TraceFilter, parse_class_filter, parse_seq, parse_text, parse_time,
    parse_verdict,
};

use sqlx::any::install_default_drivers;
use sqlx::{AnyPool, Connection, Row};
use std::path::Path;
use std::time::Duration;

/// The tenant of fleet-wide things: the `tenant` claim of a token that acts
/// across tenants, and the scope of a fleet pack in the catalog.
pub const FLEET: &str = "*";

/// The log fleet-wide admin events go to (not a valid tenant id).
pub const FLEET_LOG: &str = "_fleet";

/// A pooled connection idle at least this long is pinged before it is used.
const PING_IF_IDLE_FOR: Duration = Duration::from_secs(1);

/// A store error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database could not be reached or a query failed.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database URL names a backend warden does not support.
    #[error("unsupported database url `{0}`: use sqlite:// or postgres://")]
    UnsupportedUrl(String),
    /// A stored document no longer parses (the database was edited by hand).
    #[error("stored {what} is corrupt: {message}")]
    Corrupt {
        /// What was being read.
        what: String,
        /// The parse error.
        message: String,
    },
    /// A change's admin event could not be appended to its log, so the
    /// change was not made either.
    #[error(
        "the change was not made: it could not be recorded in the trace log of `{log}`: {message}"
    )]
    NotRecorded {
        /// The log (a tenant id, or the fleet log).
        log: String,
        /// Why the append failed.
        message: String,
    },
    /// The data directory cannot be created.
    #[error("cannot create data directory `{path}`: {source}")]
    DataDir {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Whether the database refused what was sent (a value it cannot store,
    /// a constraint), rather than being unreachable: retrying the same
    /// statement cannot help, but sending its parts separately may.
    pub fn is_refusal(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::Database(_)))
    }

    /// Whether no connection to the database could be had in time (the
    /// pool timed out): the database is unavailable, not the request bad.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Database(sqlx::Error::PoolTimedOut))
    }

    /// Whether the database refused a text it was given: one holding a NUL
    /// character (PostgreSQL: SQLSTATE 22021) or one too long for an index
    /// entry (54000). Validation at the edge refuses such values first,
    /// naming the field; this is what is left for a value that slipped by.
    pub fn is_bad_text(&self) -> bool {
        match self {
            StoreError::Database(sqlx::Error::Database(e)) => {
                matches!(e.code().as_deref(), Some("22021" | "22P05" | "54000"))
            }
            _ => false,
        }
    }
}

/// Which database is behind the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file (one process).
    Sqlite,
    /// PostgreSQL (any number of servers).
    Postgres,
}

/// The control plane's database.
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    /// PostgreSQL only: native connections for trace appends (array binds).
    append_pool: Option<sqlx::PgPool>,
    /// Heads known to extend verified history ([`custody`]).
    custody: std::sync::Arc<custody::Custody>,
    /// SQLite only: trace appends take turns in the process (FIFO) instead
    /// of contending for the database's write lock, whose busy handler
    /// sleeps up to 100 ms at a time: with several tenants appending at
    /// once, that made every tenant wait behind the busiest one's retries.
    write_gate: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// A stored Ed25519 public key (32 bytes) of a tenant or of the fleet log.
pub fn verifying_key(bytes: &[u8]) -> Result<ed25519_dalek::VerifyingKey, String> {
    let arr: [u8; 32] = bytes.try_into().map_err(|_| "not 32 bytes".to_owned())?;
    ed25519_dalek::VerifyingKey::from_bytes(&arr).map_err(|e| e.to_string())
}

/// [`StoreError::Corrupt`]: `what` (a stored document, a head) no longer
/// parses, because of `e`.
pub fn corrupt(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        what: what.to_owned(),
        message: e.to_string(),
    }
}

impl Store {
    /// Opens the SQLite database `warden.db` in `data_dir`, creating both.
    pub async fn open_sqlite(data_dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(data_dir).map_err(|source| StoreError::DataDir {
            path: data_dir.display().to_string(),
            source,
        })?;
        let url = format!("sqlite://{}?mode=rwc", data_dir.join("warden.db").display());
        Store::connect(&url).await
    }

    /// Connects to `sqlite://...` or `postgres://...` and applies migrations.
    pub async fn connect(url: &str) -> Result<Store, StoreError> {
        install_default_drivers();
        let backend = if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
            Backend::Postgres
        } else {
            return Err(StoreError::UnsupportedUrl(redact_url(url)));
        };
        let mut options = pool_options::<sqlx::Any>();
        options = match backend {
            // One writer at a time in SQLite; WAL lets readers proceed meanwhile.
            Backend::Sqlite => options.max_connections(4).after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query("PRAGMA journal_mode = WAL")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA busy_timeout = 10000")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA foreign_keys = ON")
                        .execute(&mut *conn)
                        .await?;
                    sqlx::query("PRAGMA synchronous = NORMAL")
                        .execute(&mut *conn)
                        .await?;
                    Ok(())
                })
            }),
            Backend::Postgres => options.max_connections(16).after_connect(|conn, _| {
                Box::pin(async move {
                    sqlx::query(SESSION_SETUP).execute(&mut *conn).await?;
                    Ok(())
                })
            }),
        };
        let pool = options.connect(url).await?;
        let append_pool = match backend {
            Backend::Postgres => Some(trace::pg_append::connect(url).await?),
            Backend::Sqlite => None,
        };
        let store = Store {
            pool,
            backend,
            append_pool,
            custody: std::sync::Arc::default(),
            write_gate: (backend == Backend::Sqlite).then(std::sync::Arc::default),
        };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        match self.backend {
            Backend::Sqlite => sqlx::migrate!("migrations/sqlite").run(&self.pool).await?,
            Backend::Postgres => {
                sqlx::migrate!("migrations/postgres")
                    .run(&self.pool)
                    .await?
            }
        }
        Ok(())
    }

    /// On SQLite, this process's turn to write the trace log (see
    /// `write_gate`); nothing on PostgreSQL, whose row locks queue fairly.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match &self.write_gate {
            Some(g) => Some(g.lock().await),
            None => None,
        }
    }

    /// The backend in use.
    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The connection pool (for tests and later modules).
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").fetch_one(&self.pool).await?;
        Ok(())
    }

    /// The configuration generation: it changes whenever anything that affects
    /// decisions changes (compositions, packs, the fleet layer, rollouts).
    pub async fn generation(&self) -> Result<i64, StoreError> {
        let row = sqlx::query("SELECT value FROM generation WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(row.try_get::<i64, _>(0)?)
    }

    /// Closes the pool, waiting for connections to return.
    pub async fn close(&self) {
        if let Some(pool) = &self.append_pool {
            pool.close().await;
        }
        self.pool.close().await;
    }
}

/// Run on every PostgreSQL connection warden opens:
///
/// - Generic plans: every statement is written so that its plan does not
///   depend on parameter values, and the multi-row inserts' text differs
///   with the row count, so under the default each size was planned afresh
///   on its first five runs on each connection (~10% of PostgreSQL's time
///   under load; ADR 0011).
/// - `backend_flush_after = 256kB`, unless the operator configured it
///   anywhere (server, database, role, connection options): the trace log
///   writes tens of MB/s, and left in the kernel's page cache they were all
///   flushed by each checkpoint's final fsyncs, stalling every commit
///   behind them for 0.2-0.4 s (ADR 0014). A server that cannot set it
///   keeps its own value.
const SESSION_SETUP: &str = "DO $$ BEGIN \
    PERFORM set_config('plan_cache_mode', 'force_generic_plan', false); \
    IF (SELECT source FROM pg_settings WHERE name = 'backend_flush_after') = 'default' THEN \
        BEGIN \
            PERFORM set_config('backend_flush_after', '256kB', false); \
        EXCEPTION WHEN OTHERS THEN NULL; \
        END; \
    END IF; \
END $$";

/// Pool options both pools share. No ping before every use (sqlx's
/// default): on the append path it was a second round trip per batch,
/// ~0.5 ms of a ~2 ms commit cycle under load. A connection idle for a
/// while is still pinged, and one that fails the ping is replaced.
fn pool_options<DB: sqlx::Database>() -> sqlx::pool::PoolOptions<DB> {
    sqlx::pool::PoolOptions::<DB>::new()
        .acquire_timeout(Duration::from_secs(10))
        .test_before_acquire(false)
        .before_acquire(|conn, meta| {
            Box::pin(async move {
                if meta.idle_for >= PING_IF_IDLE_FOR {
                    conn.ping().await?;
                }
                Ok(true)
            })
        })
}

/// A URL without its password, for error messages.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.find(':') {
                Some(c) => format!("{}{}:***{}", &url[..s + 3], &creds[..c], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// A page of a list: the items and the cursor of the next page, if any.
#[derive(Debug, Clone)]
pub struct Page<T> {
    /// The items, at most `limit`.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page.
    pub next_cursor: Option<String>,
}

impl<T> Page<T> {
    /// Builds a page from `limit + 1` fetched rows; `key` gives the cursor.
    pub(crate) fn from_rows(mut rows: Vec<T>, limit: usize, key: impl Fn(&T) -> String) -> Page<T> {
        let next_cursor = if rows.len() > limit {
            rows.truncate(limit);
            rows.last().map(key)
        } else {
            None
        };
        Page {
            items: rows,
            next_cursor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_passwords_only() {
        assert_eq!(
            redact_url("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact_url("mysql://h/db"), "mysql://h/db");
    }
}
