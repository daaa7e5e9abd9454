//! `warden trace export` and `warden trace query`: the trace log read
//! straight from the control plane's database, like `warden trace verify`.

use super::database::{StoreRef, current_thread_runtime};
use super::{Result, emit};
use clap::Args;
use std::io::Write;
use std::path::PathBuf;
use warden_server::api::trace_query::{EXPORT_PAGE, EventView, export_range};
use warden_store::{
    FilterError, PackFilter, Store, TraceFilter, parse_class_filter, parse_text, parse_time,
    parse_verdict,
};

/// Where the database is.
#[derive(Args)]
pub(crate) struct DbArgs {
    /// The data directory of an embedded (SQLite) server.
    #[arg(long, env = "WARDEN_DATA_DIR", default_value = "warden-data")]
    data_dir: PathBuf,
    /// The server's database.
    #[arg(long, env = "WARDEN_DATABASE_URL")]
    database_url: Option<String>,
}

impl DbArgs {
    fn store_ref(self) -> StoreRef {
        StoreRef {
            data_dir: self.data_dir,
            database_url: self.database_url,
        }
    }
}

/// `warden trace export` options.
#[derive(Args)]
pub(crate) struct ExportArgs {
    /// The tenant whose log to export.
    #[arg(long)]
    tenant: String,
    /// First sequence number (default 1; only an export from 1 verifies on its own).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    from_seq: Option<u64>,
    /// Last sequence number (default: the head when the export starts).
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    to_seq: Option<u64>,
    /// The file to write; `-` (the default) writes standard output.
    #[arg(long, default_value = "-")]
    out: PathBuf,
    #[command(flatten)]
    db: DbArgs,
}

/// `warden trace query` options.
#[derive(Args)]
pub(crate) struct QueryArgs {
    /// The tenant whose log to search.
    #[arg(long)]
    tenant: String,
    /// Events appended at or after this time (RFC 3339).
    #[arg(long)]
    from: Option<String>,
    /// Events appended before this time (RFC 3339).
    #[arg(long)]
    to: Option<String>,
    /// Decisions for this agent.
    #[arg(long)]
    agent: Option<String>,
    /// Decisions on this tool.
    #[arg(long)]
    tool: Option<String>,
    /// Decisions with this verdict: allow, deny or escalate.
    #[arg(long)]
    verdict: Option<String>,
    /// Decisions a pack served: `name@version`, or `name` for any version.
    #[arg(long)]
    pack: Option<String>,
    /// The decision with this id.
    #[arg(long)]
    decision_id: Option<String>,
    /// Events of this request (run) id.
    #[arg(long)]
    request_id: Option<String>,
    /// Events of this kind (`decision`, `configuration`, ...).
    #[arg(long)]
    kind: Option<String>,
    /// Events of this retention class.
    #[arg(long)]
    class: Option<String>,
    /// Continue after this sequence number.
    #[arg(long, default_value_t = 0)]
    after_seq: u64,
    /// At most this many events.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u64).range(1..))]
    limit: u64,
    #[command(flatten)]
    db: DbArgs,
}

fn opt<T>(
    flag: &str,
    v: &Option<String>,
    parse: impl FnOnce(&str) -> std::result::Result<T, FilterError>,
) -> Result<Option<T>> {
    v.as_deref()
        .map(parse)
        .transpose()
        .map_err(|e| format!("`--{flag}`: {e}"))
}

impl QueryArgs {
    fn filter(&self) -> Result<TraceFilter> {
        let f = TraceFilter {
            from_ms: opt("from", &self.from, |s| parse_time("from", s))?,
            to_ms: opt("to", &self.to, |s| parse_time("to", s))?,
            from_seq: None,
            to_seq: None,
            agent: opt("agent", &self.agent, |s| parse_text("agent", s))?,
            tool: opt("tool", &self.tool, |s| parse_text("tool", s))?,
            verdict: opt("verdict", &self.verdict, parse_verdict)?,
            pack: opt("pack", &self.pack, PackFilter::parse)?,
            decision_id: opt("decision-id", &self.decision_id, |s| {
                parse_text("decision_id", s)
            })?,
            request_id: opt("request-id", &self.request_id, |s| {
                parse_text("request_id", s)
            })?,
            kind: opt("kind", &self.kind, |s| parse_text("kind", s))?,
            class: opt("class", &self.class, parse_class_filter)?,
        };
        f.check_ranges().map_err(|e| e.to_string())?;
        Ok(f)
    }
}

/// Runs `f` on the opened store, then closes it.
fn with_store<T>(db: DbArgs, f: impl AsyncFnOnce(&Store) -> Result<T>) -> Result<T> {
    let refs = db.store_ref();
    current_thread_runtime()?.block_on(async {
        let store = refs.open().await?;
        let r = f(&store).await;
        store.close().await;
        r
    })
}

/// Writes the export lines of `[from_seq, to_seq]` to `out`; the number written.
async fn write_export(
    store: &Store,
    tenant: &str,
    f: &TraceFilter,
    out: &mut dyn Write,
) -> Result<u64> {
    let Some((lo, hi)) = export_range(store, tenant, f)
        .await
        .map_err(|e| e.to_string())?
    else {
        return Ok(0);
    };
    let page = TraceFilter {
        to_seq: Some(hi),
        ..TraceFilter::default()
    };
    let (mut after, mut n) = (lo - 1, 0u64);
    while after < hi {
        let rows = store
            .trace_query(tenant, &page, after, EXPORT_PAGE)
            .await
            .map_err(|e| e.to_string())?;
        let Some(last) = rows.last() else { break };
        after = last.seq;
        let mut chunk = String::new();
        for r in &rows {
            chunk.push_str(&r.to_line(tenant));
            chunk.push('\n');
        }
        emit(out, &chunk)?;
        n += rows.len() as u64;
    }
    Ok(n)
}

pub(crate) fn export(args: ExportArgs, out: &mut dyn Write) -> Result<u8> {
    let ExportArgs {
        tenant,
        from_seq,
        to_seq,
        out: path,
        db,
    } = args;
    let f = TraceFilter {
        from_seq,
        to_seq,
        ..TraceFilter::default()
    };
    f.check_ranges()
        .map_err(|_| "`--to-seq` must not be below `--from-seq`".to_owned())?;
    if path.as_os_str() == "-" {
        with_store(db, async |s| write_export(s, &tenant, &f, out).await)?;
        return Ok(0);
    }
    let written = with_store(db, async |s| {
        let file = std::fs::File::create(&path)
            .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
        let mut w = std::io::BufWriter::new(file);
        let n = write_export(s, &tenant, &f, &mut w).await?;
        w.flush()
            .and_then(|()| w.get_ref().sync_all())
            .map_err(|e| format!("cannot write `{}`: {e}", path.display()))?;
        Ok(n)
    })?;
    emit(
        out,
        &format!(
            "{}\n",
            serde_json::json!({"tenant": tenant, "events": written, "file": path.display().to_string()})
        ),
    )?;
    Ok(0)
}

pub(crate) fn query(args: QueryArgs, out: &mut dyn Write) -> Result<u8> {
    let filter = args.filter()?;
    let (tenant, mut after, limit) = (args.tenant.clone(), args.after_seq, args.limit);
    with_store(args.db, async |s| {
        let mut left = limit;
        while left > 0 {
            let page = i64::try_from(left.min(500)).unwrap_or(500);
            let rows = s
                .trace_query(&tenant, &filter, after, page)
                .await
                .map_err(|e| e.to_string())?;
            let Some(last) = rows.last() else { break };
            after = last.seq;
            left -= rows.len() as u64;
            let mut chunk = String::new();
            for r in &rows {
                let v = EventView::of(r)?;
                chunk.push_str(&serde_json::to_string(&v).map_err(|e| e.to_string())?);
                chunk.push('\n');
            }
            emit(out, &chunk)?;
            if (rows.len() as i64) < page {
                break;
            }
        }
        Ok(())
    })?;
    Ok(0)
}
