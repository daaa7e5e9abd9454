//! `warden trace`: verify a log (an export or the database), print its
//! latest checkpoint, and dispatch export, query, replay and what-if.

use super::database::{StoreRef, current_thread_runtime};
use super::{Result, emit, pretty};
use clap::Subcommand;
use std::io::Write;
use std::path::{Path, PathBuf};
use warden_host::Engine;
use warden_server::keys;

#[derive(Subcommand)]
pub(crate) enum TraceCommand {
    /// Verify a tenant's trace log: an NDJSON export (`--file`, offline) or
    /// the control plane's database (`--data-dir` / `--database-url`). Checks
    /// every link of the hash chain, that pruning accounts for every removed
    /// event and, with a checkpoint or an anchor file, that the log matches
    /// each signed head and reaches the last. Prints a JSON report; exit 0
    /// only when everything verifies, 1 when it does not.
    Verify {
        /// The export (one record per line); `-` reads standard input. Without
        /// it, the database is verified.
        #[arg(long)]
        file: Option<PathBuf>,
        /// The data directory of an embedded (SQLite) server.
        #[arg(long, env = "WARDEN_DATA_DIR", default_value = "warden-data")]
        data_dir: PathBuf,
        /// The server's database.
        #[arg(long, env = "WARDEN_DATABASE_URL")]
        database_url: Option<String>,
        /// The tenant whose log it is.
        #[arg(long)]
        tenant: String,
        /// A signed checkpoint (JSON) to hold the log to.
        #[arg(long, requires = "public_key")]
        checkpoint: Option<PathBuf>,
        /// The tenant's Ed25519 public key (PEM) that signed the checkpoint(s).
        #[arg(long)]
        public_key: Option<PathBuf>,
        /// An anchor file (one signed checkpoint per line, as `file` anchors
        /// write it): the log must match every checkpoint in it and reach the last.
        #[arg(long, requires = "public_key")]
        anchors: Option<PathBuf>,
    },
    /// Print the tenant's latest signed checkpoint (JSON) from the database,
    /// to hold an export to with `trace verify --checkpoint`.
    Checkpoint {
        /// The data directory of an embedded (SQLite) server.
        #[arg(long, env = "WARDEN_DATA_DIR", default_value = "warden-data")]
        data_dir: PathBuf,
        /// The server's database.
        #[arg(long, env = "WARDEN_DATABASE_URL")]
        database_url: Option<String>,
        /// The tenant whose log it is.
        #[arg(long)]
        tenant: String,
    },
    /// Write a tenant's log (or a stretch of it) as NDJSON export lines, read
    /// from the database; an export from sequence 1 verifies with `--file`.
    Export(Box<super::trace_export::ExportArgs>),
    /// Print the events that match filters (agent, tool, verdict, pack, ids,
    /// kind, class, time), one JSON object per line, read from the database.
    Query(Box<super::trace_export::QueryArgs>),
    /// Re-evaluate a recorded decision under the configuration it was made
    /// under and compare it with the log. Prints a JSON report; exit 0 when
    /// it reproduces, 1 when it does not.
    Replay(super::trace_replay::ReplayArgs),
    /// Re-evaluate a tenant's recorded decisions with another version of a
    /// pack and report the verdicts it would change (JSON).
    WhatIf(super::trace_replay::WhatIfArgs),
}

pub(crate) fn trace(
    cmd: TraceCommand,
    engine: impl FnOnce() -> Result<Engine>,
    out: &mut dyn Write,
) -> Result<u8> {
    match cmd {
        TraceCommand::Replay(a) => super::trace_replay::replay(&engine()?, a, out),
        TraceCommand::WhatIf(a) => super::trace_replay::what_if(&engine()?, a, out),
        TraceCommand::Export(args) => super::trace_export::export(*args, out),
        TraceCommand::Query(args) => super::trace_export::query(*args, out),
        TraceCommand::Verify {
            file,
            data_dir,
            database_url,
            tenant,
            checkpoint,
            public_key,
            anchors,
        } => verify(
            file,
            StoreRef {
                data_dir,
                database_url,
            },
            &tenant,
            checkpoint,
            public_key,
            anchors,
            out,
        ),
        TraceCommand::Checkpoint {
            data_dir,
            database_url,
            tenant,
        } => {
            let refs = StoreRef {
                data_dir,
                database_url,
            };
            let cp = current_thread_runtime()?.block_on(async {
                let store = refs.open().await?;
                let r = store
                    .trace_checkpoint_latest(&tenant)
                    .await
                    .map_err(|e| e.to_string());
                store.close().await;
                r
            })?;
            let cp = cp.ok_or_else(|| format!("tenant `{tenant}` has no checkpoint yet"))?;
            emit(out, &format!("{}\n", pretty(&cp)))?;
            Ok(0)
        }
    }
}

/// Reads every signed checkpoint of an anchor file (one JSON per line).
fn read_anchors(path: &Path) -> Result<Vec<warden_server::trace::SignedCheckpoint>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    text.lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
        .map(|(i, l)| {
            serde_json::from_str(l).map_err(|e| {
                format!(
                    "`{}` line {}: not a signed checkpoint: {e}",
                    path.display(),
                    i + 1
                )
            })
        })
        .collect()
}

#[allow(clippy::too_many_arguments)]
fn verify(
    file: Option<PathBuf>,
    refs: StoreRef,
    tenant: &str,
    checkpoint: Option<PathBuf>,
    public_key: Option<PathBuf>,
    anchors: Option<PathBuf>,
    out: &mut dyn Write,
) -> Result<u8> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read `{}`: {e}", p.display()))
    };
    let mut held = Vec::new();
    if let Some(cp) = &checkpoint {
        held.push(
            serde_json::from_str::<warden_server::trace::SignedCheckpoint>(&read(cp)?)
                .map_err(|e| format!("bad checkpoint `{}`: {e}", cp.display()))?,
        );
    }
    if let Some(a) = &anchors {
        held.extend(read_anchors(a)?);
    }
    let key = match &public_key {
        Some(k) => Some(
            keys::parse_verifying_key(&k.display().to_string(), &read(k)?)
                .map_err(|e| e.to_string())?,
        ),
        None if !held.is_empty() => {
            return Err("`--checkpoint` and `--anchors` need `--public-key`".to_owned());
        }
        None => None,
    };
    let report = match file {
        None => current_thread_runtime()?.block_on(async {
            let store = refs.open().await?;
            // Every stored checkpoint too, checked with `--public-key` or
            // else the tenant's public key as stored.
            let r = store
                .trace_verify_held(tenant, &held, key.as_ref())
                .await
                .map_err(|e| e.to_string());
            store.close().await;
            r
        })?,
        Some(f) if f.as_os_str() == "-" => warden_server::trace::verify_ndjson_held(
            std::io::stdin().lock(),
            tenant,
            &held,
            key.as_ref(),
        ),
        Some(f) => {
            let r = std::fs::File::open(&f)
                .map_err(|e| format!("cannot read `{}`: {e}", f.display()))?;
            warden_server::trace::verify_ndjson_held(
                std::io::BufReader::new(r),
                tenant,
                &held,
                key.as_ref(),
            )
        }
    };
    emit(out, &format!("{}\n", pretty(&report)))?;
    Ok(if report.ok() { 0 } else { 1 })
}
