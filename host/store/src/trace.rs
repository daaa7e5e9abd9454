//! The trace log's rows: appending a batch of events to a tenant's chain
//! under a lock on its head row (no fork, no gap, across replicas), reading
//! them back in order, and verifying the stored chain.

pub(super) mod pg_append;

use super::{Backend, Store, StoreError, corrupt, now_ms};
use ed25519_dalek::VerifyingKey;
use serde_json::Value;
use sqlx::Row;
use warden_trace::{
    Chain, EventClass, Fault, Hash, Report, SignedCheckpoint, Tombstone, Verifier, canonical,
    genesis, parse_hash, tombstone_line,
};

/// An event to append; the chain assigns its sequence number and hashes.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEvent {
    /// When (Unix ms).
    pub at_ms: i64,
    /// Retention class.
    pub class: EventClass,
    /// Event kind.
    pub kind: String,
    /// Content, already masked, as canonical JSON (see [`NewEvent::new`]).
    pub body: String,
    /// Query columns stored beside the event (decisions only).
    pub index: EventIndex,
}

/// Encodes `body` canonically (RFC 8785) into an event of `class` and
/// `kind`, stamped now.
pub fn new_event<T: serde::Serialize>(
    class: EventClass,
    kind: &str,
    body: &T,
) -> Result<NewEvent, StoreError> {
    let bytes =
        warden_trace::canonical("event body", body).map_err(|e| corrupt("trace event", e))?;
    Ok(NewEvent {
        at_ms: now_ms(),
        class,
        kind: kind.to_owned(),
        body: String::from_utf8(bytes).map_err(|e| corrupt("trace event", e))?,
        index: EventIndex::default(),
    })
}

/// What a decision event is found by: copied into query columns when it is
/// stored. The chain covers only the event text; these are a lookup aid.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventIndex {
    /// The principal's agent.
    pub agent: Option<String>,
    /// The tool called.
    pub tool: Option<String>,
    /// `allow`, `deny` or `escalate`.
    pub verdict: Option<String>,
    /// The decision id.
    pub decision_id: Option<String>,
    /// The request (run) id.
    pub request_id: Option<String>,
    /// `name@version` of each pack that served.
    pub packs: Vec<String>,
}

impl EventIndex {
    /// The `packs` column: ` a@1 b@2 ` (space-delimited, so `LIKE '% a@1 %'` matches one).
    pub fn packs_column(&self) -> Option<String> {
        (!self.packs.is_empty()).then(|| format!(" {} ", self.packs.join(" ")))
    }
}

impl NewEvent {
    /// An event; encodes the body canonically now, outside the log's lock.
    pub fn new(
        at_ms: i64,
        class: EventClass,
        kind: &str,
        body: &Value,
    ) -> Result<NewEvent, StoreError> {
        let body = canonical("event body", body).map_err(|e| corrupt("trace event", e))?;
        Ok(NewEvent {
            at_ms,
            class,
            kind: kind.to_owned(),
            body: String::from_utf8(body).map_err(|e| corrupt("trace event", e))?,
            index: EventIndex::default(),
        })
    }

    /// The same event with query columns.
    pub fn with_index(mut self, index: EventIndex) -> NewEvent {
        self.index = index;
        self
    }
}

/// Where an appended event landed in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Appended {
    /// Its sequence number.
    pub seq: u64,
    /// The previous hash (hex).
    pub prev: String,
    /// Its hash (hex).
    pub hash: String,
}

/// One stored row of a tenant's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRow {
    /// Sequence number.
    pub seq: u64,
    /// Append time (Unix ms).
    pub at_ms: i64,
    /// Retention class.
    pub class: EventClass,
    /// Event kind.
    pub kind: String,
    /// The event's canonical JSON, exactly the bytes hashed (empty when pruned).
    pub event: String,
    /// Previous hash (hex).
    pub prev: String,
    /// This event's hash (hex).
    pub hash: String,
    /// Whether retention removed the content (a tombstone).
    pub pruned: bool,
}

impl StoredRow {
    /// What is left of a pruned row.
    pub fn tombstone(&self, tenant: &str) -> Tombstone {
        Tombstone {
            tenant: tenant.to_owned(),
            seq: self.seq,
            at_ms: self.at_ms,
            class: self.class,
            kind: self.kind.clone(),
        }
    }

    /// The row as one export line (no newline): `{"prev","hash","event"}`
    /// with the event's bytes verbatim, or `{"prev","hash","pruned"}`.
    pub fn to_line(&self, tenant: &str) -> String {
        if self.pruned {
            tombstone_line(&self.prev, &self.hash, &self.tombstone(tenant))
        } else {
            format!(
                "{{\"prev\":\"{}\",\"hash\":\"{}\",\"event\":{}}}",
                self.prev, self.hash, self.event
            )
        }
    }
}

/// Parses a stored event class.
pub fn parse_class(s: &str) -> Option<EventClass> {
    match s {
        "financial" => Some(EventClass::Financial),
        "read-only" => Some(EventClass::ReadOnly),
        "action" => Some(EventClass::Action),
        "admin" => Some(EventClass::Admin),
        _ => None,
    }
}

/// `SELECT` of the columns [`stored_row`] reads, from `trace_events`.
pub(super) const SELECT_ROW: &str =
    "SELECT seq, at_ms, class, kind, event, prev, hash, pruned FROM trace_events";

/// Reads a row selected by [`SELECT_ROW`].
pub fn stored_row(r: &sqlx::any::AnyRow) -> Result<StoredRow, StoreError> {
    let class: String = r.try_get(2)?;
    Ok(StoredRow {
        seq: u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
        at_ms: r.try_get(1)?,
        class: parse_class(&class)
            .ok_or_else(|| corrupt("trace event", format!("unknown class `{class}`")))?,
        kind: r.try_get(3)?,
        event: r.try_get(4)?,
        prev: r.try_get(5)?,
        hash: r.try_get(6)?,
        pruned: r.try_get::<i64, _>(7)? != 0,
    })
}

/// Rows per INSERT statement on PostgreSQL (one round trip for many rows).
const PG_INSERT_CHUNK: usize = 256;

/// Rows per INSERT statement on SQLite: in-process, so round trips are cheap.
const SQLITE_INSERT_CHUNK: usize = 16;

/// Rows read per query when streaming a log.
const PAGE: i64 = 1000;

/// Columns of one inserted row.
const COLUMNS: usize = 14;

/// Moves a tenant's head row from `($4, $5)` to `($1, $2)`, only if it is there.
pub(super) const MOVE_HEAD: &str =
    "UPDATE trace_heads SET seq = $1, head = $2 WHERE tenant = $3 AND seq = $4 AND head = $5";

/// The columns an append writes.
pub(super) const INSERT_INTO: &str = "INSERT INTO trace_events (tenant, seq, at_ms, class, kind, event, \
    prev, hash, agent, tool, verdict, decision_id, request_id, packs) ";

/// `INSERT INTO trace_events ... VALUES (...), ...` for `rows` rows.
/// With `positional`, anonymous `?` placeholders (SQLite binds them by
/// position; `$n` names are looked up one by one, a cost that grows with the
/// square of the parameters), else `$n` (PostgreSQL).
fn insert_sql(rows: usize, positional: bool) -> String {
    let mut sql = String::with_capacity(200 + rows * COLUMNS * 6);
    sql.push_str(INSERT_INTO);
    sql.push_str("VALUES ");
    push_values(&mut sql, rows, positional);
    sql
}

/// `(p, p, ...), (...)` for `rows` rows of [`COLUMNS`] placeholders, `$n`
/// unless `positional`.
fn push_values(sql: &mut String, rows: usize, positional: bool) {
    for i in 0..rows {
        sql.push_str(if i == 0 { "(" } else { ",(" });
        for c in 0..COLUMNS {
            if c > 0 {
                sql.push(',');
            }
            if positional {
                sql.push('?');
            } else {
                sql.push('$');
                sql.push_str(&(i * COLUMNS + c + 1).to_string());
            }
        }
        sql.push(')');
    }
}

/// A head row's `(seq, head)` columns for `chain`.
fn head_row(chain: &Chain) -> (i64, String) {
    (
        i64::try_from(chain.last_seq()).unwrap_or(i64::MAX),
        warden_trace::hash_hex(chain.head()),
    )
}

/// Where a conditional append moves a tenant's head row: [`MOVE_HEAD`]'s
/// parameters, `($1, $2)` = `to` and `($4, $5)` = `from`.
pub(super) struct HeadMove {
    /// The row as the batch was chained after.
    pub from: (i64, String),
    /// The row once the batch is in.
    pub to: (i64, String),
}

/// The stored name of an event class.
pub fn class_key(c: EventClass) -> &'static str {
    match c {
        EventClass::Financial => "financial",
        EventClass::ReadOnly => "read-only",
        EventClass::Action => "action",
        EventClass::Admin => "admin",
    }
}

/// An event chained in memory, ready to insert.
#[derive(Debug, Clone)]
pub struct Chained {
    /// The event's canonical text (what its hash covers).
    pub text: String,
    /// Its place in the chain.
    pub appended: Appended,
}

/// Chains `events` after `chain` in memory (advancing it).
pub fn chain_events(chain: &mut Chain, events: &[NewEvent]) -> Result<Vec<Chained>, StoreError> {
    events
        .iter()
        .map(|e| {
            let (seq, prev, hash, text) = chain
                .append_canonical(e.at_ms, e.class, &e.kind, &e.body)
                .map_err(|err| corrupt("trace event", err))?;
            Ok(Chained {
                text,
                appended: Appended { seq, prev, hash },
            })
        })
        .collect()
}

/// Inserts chained events (multi-row statements, sized for the backend).
async fn insert_chained(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &str,
    events: &[NewEvent],
    rows: &[Chained],
    backend: Backend,
) -> Result<(), StoreError> {
    let (chunk, positional) = match backend {
        Backend::Postgres => (PG_INSERT_CHUNK, false),
        Backend::Sqlite => (SQLITE_INSERT_CHUNK, true),
    };
    for (chunk, chunk_events) in rows.chunks(chunk).zip(events.chunks(chunk)) {
        let sql = insert_sql(chunk.len(), positional);
        bind_rows(sqlx::query(&sql), tenant, chunk_events, chunk)
            .execute(&mut **tx)
            .await?;
    }
    Ok(())
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments<'q>>;

/// Binds the [`COLUMNS`] values of each row, in [`INSERT_INTO`]'s order.
fn bind_rows<'q>(
    mut q: AnyQuery<'q>,
    tenant: &'q str,
    events: &'q [NewEvent],
    rows: &'q [Chained],
) -> AnyQuery<'q> {
    for (c, e) in rows.iter().zip(events) {
        let ix = &e.index;
        q = q
            .bind(tenant)
            .bind(i64::try_from(c.appended.seq).unwrap_or(i64::MAX))
            .bind(e.at_ms)
            .bind(class_key(e.class))
            .bind(e.kind.as_str())
            .bind(c.text.as_str())
            .bind(c.appended.prev.as_str())
            .bind(c.appended.hash.as_str())
            .bind(ix.agent.as_deref())
            .bind(ix.tool.as_deref())
            .bind(ix.verdict.as_deref())
            .bind(ix.decision_id.as_deref())
            .bind(ix.request_id.as_deref())
            .bind(ix.packs_column());
    }
    q
}

/// Chains `events` after `chain` and inserts them (multi-row statements).
pub(super) async fn write_events(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &str,
    chain: &mut Chain,
    events: &[NewEvent],
    backend: Backend,
) -> Result<Vec<Appended>, StoreError> {
    let rows = chain_events(chain, events)?;
    insert_chained(tx, tenant, events, &rows, backend).await?;
    Ok(rows.into_iter().map(|c| c.appended).collect())
}

/// Moves the tenant's head row to the chain's head.
pub(super) async fn save_head(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    tenant: &str,
    chain: &Chain,
) -> Result<(), StoreError> {
    let (seq, head) = head_row(chain);
    sqlx::query("UPDATE trace_heads SET seq = $1, head = $2 WHERE tenant = $3")
        .bind(seq)
        .bind(head)
        .bind(tenant)
        .execute(&mut **tx)
        .await?;
    Ok(())
}

impl Store {
    /// Appends `events` to `tenant`'s chain in one transaction and returns
    /// their records. Concurrent appenders (threads or servers) queue on the
    /// tenant's head row; other tenants proceed in parallel.
    pub async fn trace_append(
        &self,
        tenant: &str,
        events: &[NewEvent],
    ) -> Result<Vec<Appended>, StoreError> {
        self.trace_append_locked(tenant, events)
            .await
            .map(|(appended, _)| appended)
    }

    /// [`Store::trace_append`], also returning the chain after the batch.
    pub async fn trace_append_locked(
        &self,
        tenant: &str,
        events: &[NewEvent],
    ) -> Result<(Vec<Appended>, Chain), StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        let done = self.append_in(&mut tx, tenant, events).await?;
        tx.commit().await?;
        Ok(done)
    }

    /// Inside `tx`: takes the tenant's head-row lock, chains `events` after
    /// the head, inserts them and moves the head row. Returns their records
    /// and the chain after them; the caller commits.
    pub(super) async fn append_in(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tenant: &str,
        events: &[NewEvent],
    ) -> Result<(Vec<Appended>, Chain), StoreError> {
        let mut chain = self.lock_head(tx, tenant).await?;
        let before = chain.clone();
        let appended = write_events(tx, tenant, &mut chain, events, self.backend).await?;
        save_head(tx, tenant, &chain).await?;
        // Before the caller commits: should the commit fail, the link leads
        // to a head nobody stored, which verification then does not find.
        self.custody.extended(tenant, &before, &chain);
        Ok((appended, chain))
    }

    /// Commits events already chained in memory after `before`, provided
    /// the stored head still is `before`: the head row moves from `before`
    /// to `after` by a conditional update, which waits for any transaction
    /// holding the row and then re-checks, so a pipelined batch commits
    /// right after the one it follows, and never onto a head that moved
    /// elsewhere (another server). `false`: nothing was written.
    /// PostgreSQL does it in one statement binding one array per column
    /// (docs/adr/0012-pg-append-arrays.md); SQLite in one transaction.
    pub async fn trace_append_after(
        &self,
        tenant: &str,
        before: &Chain,
        after: &Chain,
        events: &[NewEvent],
        rows: &[Chained],
    ) -> Result<bool, StoreError> {
        let moved = HeadMove {
            from: head_row(before),
            to: head_row(after),
        };
        if let Some(pool) = &self.append_pool
            && !rows.is_empty()
        {
            let done = pg_append::append_after(pool, tenant, &moved, events, rows).await?;
            if done {
                self.custody.extended(tenant, before, after);
            }
            return Ok(done);
        }
        // Otherwise (SQLite) the move and the inserts share a transaction.
        let (after_seq, after_head) = &moved.to;
        let (before_seq, before_head) = &moved.from;
        let move_head = sqlx::query(MOVE_HEAD)
            .bind(after_seq)
            .bind(after_head.as_str())
            .bind(tenant)
            .bind(before_seq)
            .bind(before_head.as_str());
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        let moved = move_head.execute(&mut *tx).await?.rows_affected();
        if moved != 1 {
            tx.rollback().await?;
            return Ok(false);
        }
        insert_chained(&mut tx, tenant, events, rows, self.backend).await?;
        tx.commit().await?;
        self.custody.extended(tenant, before, after);
        Ok(true)
    }

    /// Takes the tenant's head-row lock for the rest of the transaction and
    /// returns the chain as it stands.
    pub(super) async fn lock_head(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        tenant: &str,
    ) -> Result<Chain, StoreError> {
        // A write first: on SQLite it takes the database's write lock before
        // anything is read, so the read below cannot go stale.
        sqlx::query(
            "INSERT INTO trace_heads (tenant, seq, head) VALUES ($1, 0, $2) \
             ON CONFLICT (tenant) DO NOTHING",
        )
        .bind(tenant)
        .bind(hex::encode(genesis(tenant)))
        .execute(&mut **tx)
        .await?;
        let lock = match self.backend {
            Backend::Postgres => "SELECT seq, head FROM trace_heads WHERE tenant = $1 FOR UPDATE",
            Backend::Sqlite => "SELECT seq, head FROM trace_heads WHERE tenant = $1",
        };
        let row = sqlx::query(lock).bind(tenant).fetch_one(&mut **tx).await?;
        let seq: i64 = row.try_get(0)?;
        let head: String = row.try_get(1)?;
        let head = parse_hash(&head).map_err(|e| corrupt("trace head", e))?;
        Ok(Chain::resume(tenant, u64::try_from(seq).unwrap_or(0), head))
    }

    /// Stores an effective configuration by digest; `true` if it was new for the tenant.
    pub async fn trace_config_put(
        &self,
        tenant: &str,
        digest: &str,
        config: &str,
    ) -> Result<bool, StoreError> {
        let r = sqlx::query(
            "INSERT INTO trace_configs (tenant, digest, config, at_ms) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (tenant, digest) DO NOTHING",
        )
        .bind(tenant)
        .bind(digest)
        .bind(config)
        .bind(super::now_ms())
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// An effective configuration (JSON) by digest.
    pub async fn trace_config(
        &self,
        tenant: &str,
        digest: &str,
    ) -> Result<Option<String>, StoreError> {
        let r = sqlx::query("SELECT config FROM trace_configs WHERE tenant = $1 AND digest = $2")
            .bind(tenant)
            .bind(digest)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| r.try_get(0).map_err(StoreError::from))
            .transpose()
    }

    /// The tenant's last sequence number and head hash (hex), if it has a log.
    pub async fn trace_head(&self, tenant: &str) -> Result<Option<(u64, String)>, StoreError> {
        let r = sqlx::query("SELECT seq, head FROM trace_heads WHERE tenant = $1")
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await?;
        r.map(|r| {
            Ok((
                u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                r.try_get(1)?,
            ))
        })
        .transpose()
    }

    /// Up to `limit` stored rows after `after_seq`, in sequence order.
    pub async fn trace_rows(
        &self,
        tenant: &str,
        after_seq: u64,
        limit: i64,
    ) -> Result<Vec<StoredRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_ROW} WHERE tenant = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        ))
        .bind(tenant)
        .bind(i64::try_from(after_seq).unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(stored_row).collect()
    }

    /// Verifies the tenant's stored chain page by page, and that it reaches
    /// the stored head.
    pub async fn trace_verify(&self, tenant: &str) -> Result<Report, StoreError> {
        self.trace_verify_against(tenant, &[], None).await
    }

    /// Feeds the stored rows after `after` up to `upto` to `v`, a page at
    /// a time; the first fault, if any.
    async fn push_stored(
        &self,
        v: &mut Verifier,
        tenant: &str,
        mut after: u64,
        upto: u64,
    ) -> Result<Result<(), Fault>, StoreError> {
        while after < upto {
            let limit = i64::try_from(upto - after).unwrap_or(PAGE).min(PAGE);
            let rows = self.trace_rows(tenant, after, limit).await?;
            if rows.is_empty() {
                break;
            }
            for r in &rows {
                let pushed = if r.pruned {
                    v.push_tombstone(&r.prev, &r.hash, &r.tombstone(tenant))
                } else {
                    v.push_event(&r.prev, &r.hash, &r.event)
                };
                if let Err(f) = pushed {
                    return Ok(Err(f));
                }
                after = r.seq;
            }
        }
        Ok(Ok(()))
    }

    /// Verifies the stretch of the tenant's chain after `from` (a sequence
    /// number and the head hash there, e.g. a signed checkpoint) up to
    /// `to_seq`: every link from the row after `from` on, and that the
    /// chain reaches `to_seq` with head `to_head`. The stretch's own
    /// pruning accounting is not checked (that needs the whole log); what
    /// it proves is that `to_head` extends `from` through stored events.
    pub async fn trace_verify_stretch(
        &self,
        tenant: &str,
        from: (u64, Hash),
        to_seq: u64,
        to_head: &str,
    ) -> Result<Result<(), Fault>, StoreError> {
        let mut v = Verifier::resume(tenant, from.0, from.1);
        if let Err(f) = self.push_stored(&mut v, tenant, from.0, to_seq).await? {
            return Ok(Err(f));
        }
        let report = v.finish(None);
        Ok(if report.last_seq < to_seq {
            Err(Fault::Truncated {
                seq: to_seq,
                last: report.last_seq,
            })
        } else if report.head != to_head {
            Err(Fault::HeadMismatch { seq: to_seq })
        } else {
            Ok(())
        })
    }

    /// [`Store::trace_verify_against`] holding the log to every checkpoint
    /// stored for it as well as to `held` (an anchor file's, say), all
    /// signed by `key`, or by the tenant's stored public key when `key` is
    /// `None`. This is what online verification (API and CLI) runs.
    pub async fn trace_verify_held(
        &self,
        tenant: &str,
        held: &[SignedCheckpoint],
        key: Option<&VerifyingKey>,
    ) -> Result<Report, StoreError> {
        let mut all = self.trace_checkpoints_all(tenant).await?;
        all.extend_from_slice(held);
        let stored_key = match key {
            Some(_) => None,
            None if tenant == crate::FLEET_LOG => match self.fleet_key().await? {
                Some((public, _)) => Some(
                    crate::verifying_key(&public).map_err(|e| corrupt("fleet public key", e))?,
                ),
                None => None,
            },
            None => match self.tenant(tenant).await? {
                Some(row) => Some(
                    crate::verifying_key(&row.public_key)
                        .map_err(|e| corrupt("tenant public key", e))?,
                ),
                None => None,
            },
        };
        self.trace_verify_against(tenant, &all, key.or(stored_key.as_ref()))
            .await
    }

    /// [`Store::trace_verify`], also holding the log to signed checkpoints
    /// (stored ones, or an anchor file's), all signed by `key`.
    pub async fn trace_verify_against(
        &self,
        tenant: &str,
        checkpoints: &[SignedCheckpoint],
        key: Option<&VerifyingKey>,
    ) -> Result<Report, StoreError> {
        let mut v = Verifier::new(tenant);
        if let Err(f) = v.expect_all(checkpoints, key) {
            return Ok(v.finish(Some(f)));
        }
        if let Err(f) = self.push_stored(&mut v, tenant, 0, u64::MAX).await? {
            return Ok(v.finish(Some(f)));
        }
        let report = v.finish(None);
        Ok(match self.trace_head(tenant).await? {
            Some((seq, _)) if seq > report.last_seq => Report {
                fault: Some(Fault::Truncated {
                    seq,
                    last: report.last_seq,
                }),
                ..report
            },
            Some((seq, head_hex)) if seq == report.last_seq && head_hex != report.head => Report {
                fault: Some(Fault::HeadMismatch { seq }),
                ..report
            },
            _ => report,
        })
    }
}
