//! The approval rows a trace batch writes, a few statements per batch
//! rather than a few per change: the batch's compare-and-swaps as one
//! `UPDATE ... FROM (VALUES ...)`, the requests and notifications it opens
//! as multi-row inserts, and one notification statement. A batch of a busy
//! tenant holds dozens of changes; one statement each, the transaction
//! that every change of the tenant waits for took tens of milliseconds on
//! PostgreSQL (BENCHMARKS.md, "Approvals under load").

use super::{ApprovalRow, Backend, OutboxRow, StoreError};
use sqlx::Row;
use std::collections::HashSet;

/// The PostgreSQL channel a committed approval change is announced on
/// (the payload is the approval id), so every server wakes its waiters.
pub const APPROVALS_CHANNEL: &str = "warden_approvals";

/// The columns of `approvals`, in the order every statement binds them.
pub(crate) const COLUMNS: &str = "id, tenant, request_id, decision_id, status, deadline_ms, eligible, \
                       version, created_ms, updated_ms, doc";

/// The SQL types of [`COLUMNS`], in order.
const COLUMN_TYPES: &[&str] = &[
    "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "TEXT", "BIGINT", "BIGINT", "BIGINT", "TEXT",
];

/// The columns of `approval_outbox`, in the order every statement binds them.
pub(crate) const OUTBOX: &str = "id, tenant, approval_id, url, event, body, attempts, next_ms, state, \
                      last_error, created_ms";

/// The SQL types of [`OUTBOX`], in order.
const OUTBOX_TYPES: &[&str] = &[
    "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "TEXT", "BIGINT", "BIGINT", "BIGINT", "TEXT", "BIGINT",
];

/// Rows per statement: far below both backends' limits on bound values.
const ROWS: usize = 64;

type Tx<'t, 'c> = &'t mut sqlx::Transaction<'c, sqlx::Any>;

/// Placeholders in the backend's style: `$n` on PostgreSQL, `?` (bound in
/// order of appearance) on SQLite.
struct Params {
    backend: Backend,
    n: usize,
}

impl Params {
    fn new(backend: Backend) -> Params {
        Params { backend, n: 0 }
    }

    /// The next placeholder, cast to `ty`.
    fn next(&mut self, ty: &str) -> String {
        self.n += 1;
        match self.backend {
            Backend::Postgres => format!("CAST(${} AS {ty})", self.n),
            Backend::Sqlite => format!("CAST(? AS {ty})"),
        }
    }
}

/// `(p, p, ...), (...)`: `rows` rows of one placeholder per type in `types`.
fn values(p: &mut Params, rows: usize, types: &[&str]) -> String {
    let row = |p: &mut Params| {
        let cols: Vec<String> = types.iter().map(|ty| p.next(ty)).collect();
        format!("({})", cols.join(", "))
    };
    let all: Vec<String> = (0..rows).map(|_| row(p)).collect();
    all.join(", ")
}

/// Replaces each of `next` whose stored version is still `version - 1`,
/// all inside `tx`; which held, in `next`'s order. A batch may hold two
/// changes of one request: the first goes in the multi-row statement and
/// each later one after it on its own, in order, so the outcome is that of
/// swapping them one by one.
pub(super) async fn swap_in(
    tx: Tx<'_, '_>,
    backend: Backend,
    tenant: &str,
    next: &[&ApprovalRow],
) -> Result<Vec<bool>, StoreError> {
    let mut seen = HashSet::with_capacity(next.len());
    let (mut first, mut again) = (Vec::new(), Vec::new());
    for (i, r) in next.iter().enumerate() {
        if seen.insert(r.id.as_str()) {
            first.push(i);
        } else {
            again.push(i);
        }
    }
    let mut held = vec![false; next.len()];
    for chunk in first.chunks(ROWS) {
        let mut p = Params::new(backend);
        let values = values(
            &mut p,
            chunk.len(),
            &["TEXT", "TEXT", "BIGINT", "TEXT", "BIGINT", "BIGINT", "TEXT"],
        );
        let sql = format!(
            "WITH v (id, status, deadline_ms, eligible, version, updated_ms, doc) AS (VALUES {}) \
             UPDATE approvals SET status = v.status, deadline_ms = v.deadline_ms, \
             eligible = v.eligible, version = v.version, updated_ms = v.updated_ms, doc = v.doc \
             FROM v WHERE approvals.id = v.id AND approvals.tenant = {} \
             AND approvals.version = v.version - 1 RETURNING approvals.id",
            values,
            p.next("TEXT"),
        );
        let mut q = sqlx::query(&sql);
        for &i in chunk {
            let r = next[i];
            q = q
                .bind(&r.id)
                .bind(&r.status)
                .bind(r.deadline_ms)
                .bind(&r.eligible)
                .bind(r.version)
                .bind(r.updated_ms)
                .bind(&r.doc);
        }
        let swapped: HashSet<String> = q
            .bind(tenant)
            .fetch_all(&mut **tx)
            .await?
            .iter()
            .map(|row| row.try_get(0))
            .collect::<Result<_, _>>()?;
        for &i in chunk {
            held[i] = swapped.contains(&next[i].id);
        }
    }
    for i in again {
        let r = next[i];
        let done = sqlx::query(
            "UPDATE approvals SET status = $1, deadline_ms = $2, eligible = $3, version = $4, \
             updated_ms = $5, doc = $6 WHERE id = $7 AND tenant = $8 AND version = $9",
        )
        .bind(&r.status)
        .bind(r.deadline_ms)
        .bind(&r.eligible)
        .bind(r.version)
        .bind(r.updated_ms)
        .bind(&r.doc)
        .bind(&r.id)
        .bind(tenant)
        .bind(r.version - 1)
        .execute(&mut **tx)
        .await?;
        held[i] = done.rows_affected() == 1;
    }
    Ok(held)
}

/// Inserts approval rows inside `tx` (the escalated decisions' append).
pub(super) async fn insert_in(
    tx: Tx<'_, '_>,
    backend: Backend,
    rows: &[&ApprovalRow],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS) {
        let mut p = Params::new(backend);
        let values = values(&mut p, chunk.len(), COLUMN_TYPES);
        let sql = format!("INSERT INTO approvals ({}) VALUES {}", COLUMNS, values);
        let mut q = sqlx::query(&sql);
        for a in chunk {
            q = q
                .bind(&a.id)
                .bind(&a.tenant)
                .bind(&a.request_id)
                .bind(&a.decision_id)
                .bind(&a.status)
                .bind(a.deadline_ms)
                .bind(&a.eligible)
                .bind(a.version)
                .bind(a.created_ms)
                .bind(a.updated_ms)
                .bind(&a.doc);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Inserts notifications inside `tx` (the changes they announce).
pub(super) async fn outbox_in(
    tx: Tx<'_, '_>,
    backend: Backend,
    rows: &[&OutboxRow],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(ROWS) {
        let mut p = Params::new(backend);
        let values = values(&mut p, chunk.len(), OUTBOX_TYPES);
        let sql = format!("INSERT INTO approval_outbox ({}) VALUES {}", OUTBOX, values);
        let mut q = sqlx::query(&sql);
        for o in chunk {
            q = q
                .bind(&o.id)
                .bind(&o.tenant)
                .bind(&o.approval_id)
                .bind(&o.url)
                .bind(&o.event)
                .bind(&o.body)
                .bind(o.attempts)
                .bind(o.next_ms)
                .bind(o.state)
                .bind(o.last_error.as_deref())
                .bind(o.created_ms);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}

/// Announces committed changes to every server's waiters (PostgreSQL; the
/// notifications are delivered on commit, one per approval id). SQLite
/// has one server, which wakes its own.
pub(super) async fn notify_in(
    tx: Tx<'_, '_>,
    backend: Backend,
    ids: &[&str],
) -> Result<(), StoreError> {
    if backend != Backend::Postgres {
        return Ok(());
    }
    for chunk in ids.chunks(ROWS) {
        let mut p = Params::new(backend);
        let channel = p.next("TEXT");
        let values = values(&mut p, chunk.len(), &["TEXT"]);
        let sql = format!(
            "SELECT pg_notify({channel}, v.id) FROM (VALUES {}) AS v (id)",
            values
        );
        let mut q = sqlx::query(&sql).bind(APPROVALS_CHANNEL);
        for id in chunk {
            q = q.bind(*id);
        }
        q.execute(&mut **tx).await?;
    }
    Ok(())
}
