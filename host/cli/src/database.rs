//! Opening the control plane's database from the command line: the SQLite
//! file in a data directory or a PostgreSQL URL, on a runtime of its own.

use super::Result;
use std::path::PathBuf;
use warden_store::Store;

/// Where catalog references are read from.
pub(crate) struct StoreRef {
    pub data_dir: PathBuf,
    pub database_url: Option<String>,
}

impl StoreRef {
    /// Opens the server's database: `--database-url`, else the SQLite file
    /// in `--data-dir` (never created here).
    pub(crate) async fn open(&self) -> Result<Store> {
        match &self.database_url {
            Some(url) => Store::connect(url).await,
            None => {
                if !self.data_dir.join("warden.db").exists() {
                    return Err(format!(
                        "no catalog or trace database at `{}` (pass --data-dir or --database-url)",
                        self.data_dir.display()
                    ));
                }
                Store::open_sqlite(&self.data_dir).await
            }
        }
        .map_err(|e| e.to_string())
    }
}

/// A single-threaded runtime for commands that read the database.
pub(crate) fn current_thread_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}
