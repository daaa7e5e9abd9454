//! PostgreSQL's append of a batch chained in memory, as one statement with
//! one array parameter per column (docs/adr/0012-pg-append-arrays.md).
//!
//! The statement text is the same for every batch size, so each connection
//! prepares and plans it once; a batch of `n` events binds 18 parameters
//! instead of `14 n + 5`. It runs on its own small pool of native
//! PostgreSQL connections: sqlx's `Any` driver has no array types.

use super::{Chained, EventIndex, HeadMove, INSERT_INTO, MOVE_HEAD, NewEvent, class_key};
use crate::StoreError;
use sqlx::postgres::PgPool;
use std::sync::LazyLock;

/// Connections of the append pool: one lane per tenant holds at most one
/// at a time (`appender::DEPTH`), and tenants' lanes run in parallel.
const POOL_SIZE: u32 = 8;

/// [`MOVE_HEAD`] and [`INSERT_INTO`] as one statement: the rows go in only
/// if the head moved from where the batch was chained (a concurrent move
/// makes the `UPDATE` match nothing, and then the `INSERT` selects no rows).
/// Rows arrive as parallel arrays, one per column after the tenant (`$3`).
static APPEND_AFTER: LazyLock<String> = LazyLock::new(|| {
    format!(
        "WITH moved AS ({MOVE_HEAD} RETURNING 1) {INSERT_INTO}\
         SELECT $3, r.* FROM unnest($6::bigint[], $7::bigint[], $8::text[], $9::text[], \
         $10::text[], $11::text[], $12::text[], $13::text[], $14::text[], $15::text[], \
         $16::text[], $17::text[], $18::text[]) AS r \
         WHERE EXISTS (SELECT 1 FROM moved)"
    )
});

/// A pool of native PostgreSQL connections for appends, configured like the
/// store's own (the same session setup, no ping before each use).
pub(crate) async fn connect(url: &str) -> Result<PgPool, StoreError> {
    let pool = crate::pool_options::<sqlx::Postgres>()
        .max_connections(POOL_SIZE)
        .after_connect(|conn, _| {
            Box::pin(async move {
                sqlx::query(crate::SESSION_SETUP)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
        })
        .connect_lazy(url)?;
    Ok(pool)
}

/// The columns of a batch, one vector per column, borrowing the events.
struct Columns<'a> {
    seq: Vec<i64>,
    at_ms: Vec<i64>,
    class: Vec<&'a str>,
    kind: Vec<&'a str>,
    event: Vec<&'a str>,
    prev: Vec<&'a str>,
    hash: Vec<&'a str>,
    agent: Vec<Option<&'a str>>,
    tool: Vec<Option<&'a str>>,
    verdict: Vec<Option<&'a str>>,
    decision_id: Vec<Option<&'a str>>,
    request_id: Vec<Option<&'a str>>,
    packs: Vec<Option<String>>,
}

impl<'a> Columns<'a> {
    fn of(events: &'a [NewEvent], rows: &'a [Chained]) -> Columns<'a> {
        let n = rows.len();
        let mut c = Columns {
            seq: Vec::with_capacity(n),
            at_ms: Vec::with_capacity(n),
            class: Vec::with_capacity(n),
            kind: Vec::with_capacity(n),
            event: Vec::with_capacity(n),
            prev: Vec::with_capacity(n),
            hash: Vec::with_capacity(n),
            agent: Vec::with_capacity(n),
            tool: Vec::with_capacity(n),
            verdict: Vec::with_capacity(n),
            decision_id: Vec::with_capacity(n),
            request_id: Vec::with_capacity(n),
            packs: Vec::with_capacity(n),
        };
        for (row, e) in rows.iter().zip(events) {
            let ix: &EventIndex = &e.index;
            c.seq
                .push(i64::try_from(row.appended.seq).unwrap_or(i64::MAX));
            c.at_ms.push(e.at_ms);
            c.class.push(class_key(e.class));
            c.kind.push(&e.kind);
            c.event.push(&row.text);
            c.prev.push(&row.appended.prev);
            c.hash.push(&row.appended.hash);
            c.agent.push(ix.agent.as_deref());
            c.tool.push(ix.tool.as_deref());
            c.verdict.push(ix.verdict.as_deref());
            c.decision_id.push(ix.decision_id.as_deref());
            c.request_id.push(ix.request_id.as_deref());
            c.packs.push(ix.packs_column());
        }
        c
    }
}

/// Appends `rows` to `tenant`'s log if its stored head row is still
/// `moved.from`, moving it to `moved.to`. `false`: the head was elsewhere
/// and nothing was written.
pub(super) async fn append_after(
    pool: &PgPool,
    tenant: &str,
    moved: &HeadMove,
    events: &[NewEvent],
    rows: &[Chained],
) -> Result<bool, StoreError> {
    let c = Columns::of(events, rows);
    let inserted = sqlx::query(APPEND_AFTER.as_str())
        .bind(moved.to.0)
        .bind(moved.to.1.as_str())
        .bind(tenant)
        .bind(moved.from.0)
        .bind(moved.from.1.as_str())
        .bind(&c.seq)
        .bind(&c.at_ms)
        .bind(&c.class)
        .bind(&c.kind)
        .bind(&c.event)
        .bind(&c.prev)
        .bind(&c.hash)
        .bind(&c.agent)
        .bind(&c.tool)
        .bind(&c.verdict)
        .bind(&c.decision_id)
        .bind(&c.request_id)
        .bind(&c.packs)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(inserted == rows.len() as u64)
}
