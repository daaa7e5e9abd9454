//! A fresh PostgreSQL database per test on the local server, dropped when the
//! test ends (passed or not). The admin URL is `WARDEN_TEST_PG`, by default
//! `postgres://postgres@127.0.0.1:5432/test` (trust auth; `.ci/run` starts it).

use std::sync::atomic::{AtomicU32, Ordering};

/// The admin URL of the local PostgreSQL.
pub fn admin_url() -> String {
    std::env::var("WARDEN_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

/// A database of its own, dropped (`WITH (FORCE)`) when this is dropped.
#[derive(Debug)]
pub struct PgDb {
    /// The database's name.
    pub name: String,
    /// Its URL, for `--database-url` or `Store::connect`.
    pub url: String,
}

impl PgDb {
    /// Creates a database from async code.
    pub async fn create() -> PgDb {
        let db = PgDb::named();
        exec(&format!("CREATE DATABASE {}", db.name)).await;
        db
    }

    /// Creates a database from blocking code (a test that runs processes).
    pub fn create_blocking() -> PgDb {
        let db = PgDb::named();
        block_on(exec(&format!("CREATE DATABASE {}", db.name)));
        db
    }

    fn named() -> PgDb {
        static N: AtomicU32 = AtomicU32::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        let name = format!(
            "warden_test_{}_{}_{nanos}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        );
        let admin = admin_url();
        let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
        PgDb {
            url: format!("{base}/{name}"),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        // On a thread of its own with its own runtime: Drop cannot await, and
        // it may run on an async test's runtime thread.
        let _ = std::thread::spawn(move || block_on(async move { try_exec(&sql).await })).join();
    }
}

async fn exec(sql: &str) {
    if let Err(e) = try_exec(sql).await {
        panic!("PostgreSQL must run on {} (see .ci/run): {e}", admin_url());
    }
}

async fn try_exec(sql: &str) -> Result<(), sqlx::Error> {
    use sqlx::Connection;
    let mut c = sqlx::PgConnection::connect(&admin_url()).await?;
    sqlx::query(sql).execute(&mut c).await?;
    c.close().await
}

fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}
