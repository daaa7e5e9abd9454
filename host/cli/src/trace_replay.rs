//! `warden trace replay`, `warden trace what-if`, and the behavioural half
//! of `warden pack diff --traffic`: the library's replay and what-if
//! (`server::replay`, `server::what_if`) run against the control plane's
//! database, with packs compiled by this process's engine.

use super::database::{StoreRef, current_thread_runtime};
use super::{Result, emit, pretty};
use clap::Args;
use std::fmt::Write as _;
use std::io::Write;
use std::path::{Path, PathBuf};
use warden_host::Engine;
use warden_server::compositions::resolve::Source;
use warden_server::trace_log::replay::{self, CatalogPacks, Target};
use warden_server::trace_log::what_if::{self, DEFAULT_LIMIT, MAX_LIMIT, WhatIfReport, Window};
use warden_store::Store;

/// Where the control plane's database is.
#[derive(Args)]
pub(crate) struct Database {
    /// The data directory of an embedded (SQLite) server.
    #[arg(long, env = "WARDEN_DATA_DIR", default_value = "warden-data")]
    data_dir: PathBuf,
    /// The server's database.
    #[arg(long, env = "WARDEN_DATABASE_URL")]
    database_url: Option<String>,
}

impl Database {
    fn store_ref(self) -> StoreRef {
        StoreRef {
            data_dir: self.data_dir,
            database_url: self.database_url,
        }
    }
}

/// `warden trace replay`.
#[derive(Args)]
pub(crate) struct ReplayArgs {
    #[command(flatten)]
    db: Database,
    /// The tenant whose log holds the decision.
    #[arg(long)]
    tenant: String,
    /// The decision id returned by `evaluate`.
    #[arg(long, conflicts_with = "seq", required_unless_present = "seq")]
    decision_id: Option<String>,
    /// The decision event's sequence number.
    #[arg(long)]
    seq: Option<u64>,
}

/// `warden trace what-if`.
#[derive(Args)]
pub(crate) struct WhatIfArgs {
    #[command(flatten)]
    db: Database,
    /// The tenant whose recorded decisions are re-evaluated.
    #[arg(long)]
    tenant: String,
    /// The candidate pack's name.
    #[arg(long)]
    pack: String,
    /// The candidate version (fleet catalog, else the tenant's private packs).
    #[arg(long)]
    version: String,
    /// First sequence number.
    #[arg(long)]
    from_seq: Option<u64>,
    /// Last sequence number.
    #[arg(long)]
    to_seq: Option<u64>,
    /// Most decisions (1 to 10000), the oldest of the range first.
    #[arg(long, default_value_t = DEFAULT_LIMIT)]
    limit: usize,
}

/// Opens the store, runs `f` with it and the catalog's packs, closes it.
fn with_store<T>(
    engine: &Engine,
    refs: &StoreRef,
    rt: &tokio::runtime::Runtime,
    f: impl AsyncFnOnce(&Store, &CatalogPacks) -> Result<T>,
) -> Result<T> {
    rt.block_on(async {
        let store = refs.open().await?;
        let packs = CatalogPacks::new(store.clone(), engine.clone());
        let r = f(&store, &packs).await;
        store.close().await;
        r
    })
}

/// Re-evaluates one recorded decision; exit 0 when it reproduces, 1 when not.
/// `warden trace replay`.
pub(crate) fn replay(engine: &Engine, a: ReplayArgs, out: &mut dyn Write) -> Result<u8> {
    let target = match (a.decision_id, a.seq) {
        (Some(id), _) => Target::DecisionId(id),
        (None, Some(seq)) => Target::Seq(seq),
        (None, None) => return Err("give `--decision-id` or `--seq`".to_owned()),
    };
    let rt = current_thread_runtime()?;
    let tenant = a.tenant;
    let report = with_store(engine, &a.db.store_ref(), &rt, async |store, packs| {
        replay::replay(store, packs, &tenant, &target)
            .await
            .map_err(|e| e.to_string())
    })?;
    emit(out, &format!("{}\n", pretty(&report)))?;
    Ok(if report.reproduced { 0 } else { 1 })
}

fn check_limit(n: usize) -> Result<usize> {
    if (1..=MAX_LIMIT).contains(&n) {
        Ok(n)
    } else {
        Err(format!(
            "the limit must be between 1 and {MAX_LIMIT}, got `{n}`"
        ))
    }
}

/// Re-evaluates a range of recorded decisions under another pack version.
/// `warden trace what-if`.
pub(crate) fn what_if(engine: &Engine, a: WhatIfArgs, out: &mut dyn Write) -> Result<u8> {
    let window = Window::new(a.from_seq, a.to_seq, check_limit(a.limit)?);
    let rt = current_thread_runtime()?;
    let (tenant, pack, version) = (a.tenant, a.pack, a.version);
    let report = with_store(engine, &a.db.store_ref(), &rt, async |store, packs| {
        run_what_if(store, packs, &tenant, &pack, &version, None, window).await
    })?;
    emit(out, &format!("{}\n", pretty(&report)))?;
    Ok(0)
}

async fn run_what_if(
    store: &Store,
    packs: &CatalogPacks,
    tenant: &str,
    pack: &str,
    version: &str,
    source: Option<Source>,
    window: Window,
) -> Result<WhatIfReport> {
    if store
        .tenant(tenant)
        .await
        .map_err(|e| e.to_string())?
        .is_none()
    {
        return Err(format!("tenant `{tenant}` not found"));
    }
    let candidate = what_if::candidate_pack(store, packs, tenant, pack, version, source)
        .await
        .map_err(|e| e.to_string())?;
    what_if::what_if(store, packs, tenant, &candidate, window)
        .await
        .map_err(|e| e.to_string())
}

/// `name@version` of a catalog reference (not a file).
fn catalog_ref(arg: &str) -> Result<(&str, &str)> {
    if Path::new(arg).exists() {
        return Err(format!(
            "`--traffic` needs catalog references `name@version` on both sides; `{arg}` is a file"
        ));
    }
    arg.split_once('@')
        .ok_or_else(|| format!("`{arg}` is not a catalog reference `name@version`"))
}

/// The what-if of `to` (a fleet catalog version) over the tenant's last
/// `last` recorded decisions, for `warden pack diff --traffic`.
pub(crate) fn traffic(
    engine: &Engine,
    refs: &StoreRef,
    rt: &tokio::runtime::Runtime,
    from: &str,
    to: &str,
    tenant: &str,
    last: usize,
) -> Result<WhatIfReport> {
    let (from_name, _) = catalog_ref(from)?;
    let (name, version) = catalog_ref(to)?;
    if from_name != name {
        return Err(format!(
            "`--traffic` compares two versions of one pack, not `{from_name}` and `{name}`"
        ));
    }
    let window = Window::last(check_limit(last)?);
    with_store(engine, refs, rt, async |store, packs| {
        run_what_if(
            store,
            packs,
            tenant,
            name,
            version,
            Some(Source::Fleet),
            window,
        )
        .await
    })
}

/// Flips printed in text; the JSON has all of them.
const TEXT_FLIPS: usize = 20;

/// The traffic part of `pack diff` as text.
pub(crate) fn render_traffic(tenant: &str, last: usize, r: &WhatIfReport) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "\ntraffic: {} over the last {last} decisions of tenant `{tenant}`",
        r.candidate
    );
    let _ = writeln!(
        s,
        "  scanned {}, re-evaluated {}, unaffected {}, pruned {}",
        r.scanned, r.evaluated, r.unaffected, r.pruned
    );
    if !r.baseline.is_empty() {
        let b: Vec<String> = r
            .baseline
            .iter()
            .map(|(v, n)| format!("{v} ({n})"))
            .collect();
        let _ = writeln!(s, "  recorded under {}", b.join(", "));
    }
    for u in &r.unbuilt {
        let _ = writeln!(
            s,
            "  ! {} decisions skipped: configuration {} does not build: {}",
            u.decisions, u.config, u.message
        );
    }
    if r.changed == 0 {
        let _ = writeln!(s, "  no verdict changes");
        return s;
    }
    let t: Vec<String> = r
        .by_transition
        .iter()
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    let _ = writeln!(s, "  {} verdict changes: {}", r.changed, t.join(", "));
    for f in r.flips.iter().take(TEXT_FLIPS) {
        let _ = writeln!(
            s,
            "  seq {} request {}: {} -> {}: {}",
            f.seq,
            f.request_id,
            f.before.verdict.as_str(),
            f.after.verdict.as_str(),
            f.after.reason
        );
    }
    if r.flips.len() > TEXT_FLIPS {
        let _ = writeln!(
            s,
            "  ... and {} more (--json lists all)",
            r.flips.len() - TEXT_FLIPS
        );
    }
    s
}
