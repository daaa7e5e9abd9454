//! The trace log's rows: appending a batch of events to a tenant's chain
//! under a lock on its head row (no fork, no gap, across replicas), reading
//! them back in order, and verifying the stored chain.

use super::{Backend, Store, StoreError, corrupt};
use crate::trace::{
    Chain, EventClass, Fault, Report, Verifier, canonical, event_head, genesis, parse_hash,
};
use serde_json::Value;
use sqlx::Row;

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
        })
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

/// Rows per INSERT statement.
const INSERT_CHUNK: usize = 256;

/// Rows read per query when streaming a log.
const PAGE: i64 = 1000;

fn class_key(c: EventClass) -> &'static str {
    match c {
        EventClass::Financial => "financial",
        EventClass::ReadOnly => "read-only",
        EventClass::Action => "action",
        EventClass::Admin => "admin",
    }
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
        let mut tx = self.pool.begin().await?;
        // A write first: on SQLite it takes the database's write lock before
        // anything is read, so the read below cannot go stale.
        sqlx::query(
            "INSERT INTO trace_heads (tenant, seq, head) VALUES ($1, 0, $2) \
             ON CONFLICT (tenant) DO NOTHING",
        )
        .bind(tenant)
        .bind(hex::encode(genesis(tenant)))
        .execute(&mut *tx)
        .await?;
        let lock = match self.backend {
            Backend::Postgres => "SELECT seq, head FROM trace_heads WHERE tenant = $1 FOR UPDATE",
            Backend::Sqlite => "SELECT seq, head FROM trace_heads WHERE tenant = $1",
        };
        let row = sqlx::query(lock).bind(tenant).fetch_one(&mut *tx).await?;
        let seq: i64 = row.try_get(0)?;
        let head: String = row.try_get(1)?;
        let head = parse_hash(&head).map_err(|e| corrupt("trace head", e))?;
        let mut chain = Chain::resume(tenant, u64::try_from(seq).unwrap_or(0), head);
        let mut rows = Vec::with_capacity(events.len());
        for e in events {
            let (seq, prev, hash, text) = chain
                .append_canonical(e.at_ms, e.class, &e.kind, &e.body)
                .map_err(|err| corrupt("trace event", err))?;
            rows.push((seq, text, Appended { seq, prev, hash }));
        }
        for (chunk, chunk_events) in rows.chunks(INSERT_CHUNK).zip(events.chunks(INSERT_CHUNK)) {
            let mut sql = String::from(
                "INSERT INTO trace_events (tenant, seq, at_ms, class, kind, event, prev, hash) VALUES ",
            );
            for i in 0..chunk.len() {
                let b = i * 8;
                if i > 0 {
                    sql.push(',');
                }
                sql.push_str(&format!(
                    "(${}, ${}, ${}, ${}, ${}, ${}, ${}, ${})",
                    b + 1,
                    b + 2,
                    b + 3,
                    b + 4,
                    b + 5,
                    b + 6,
                    b + 7,
                    b + 8
                ));
            }
            let mut q = sqlx::query(&sql);
            for ((seq, text, a), e) in chunk.iter().zip(chunk_events) {
                q = q
                    .bind(tenant)
                    .bind(i64::try_from(*seq).unwrap_or(i64::MAX))
                    .bind(e.at_ms)
                    .bind(class_key(e.class))
                    .bind(e.kind.as_str())
                    .bind(text.as_str())
                    .bind(a.prev.as_str())
                    .bind(a.hash.as_str());
            }
            q.execute(&mut *tx).await?;
        }
        sqlx::query("UPDATE trace_heads SET seq = $1, head = $2 WHERE tenant = $3")
            .bind(i64::try_from(chain.last_seq()).unwrap_or(i64::MAX))
            .bind(hex::encode(chain.head()))
            .bind(tenant)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(rows.into_iter().map(|(_, _, a)| a).collect())
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

    /// Up to `limit` stored rows after `after_seq`: (seq, canonical event, prev, hash).
    pub async fn trace_rows(
        &self,
        tenant: &str,
        after_seq: u64,
        limit: i64,
    ) -> Result<Vec<(u64, String, String, String)>, StoreError> {
        let rows = sqlx::query(
            "SELECT seq, event, prev, hash FROM trace_events WHERE tenant = $1 AND seq > $2 \
             ORDER BY seq LIMIT $3",
        )
        .bind(tenant)
        .bind(i64::try_from(after_seq).unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok((
                    u64::try_from(r.try_get::<i64, _>(0)?).unwrap_or(0),
                    r.try_get(1)?,
                    r.try_get(2)?,
                    r.try_get(3)?,
                ))
            })
            .collect()
    }

    /// Verifies the tenant's stored chain page by page, and that it reaches
    /// the stored head.
    pub async fn trace_verify(&self, tenant: &str) -> Result<Report, StoreError> {
        let mut v = Verifier::new(tenant);
        let mut after = 0;
        loop {
            let rows = self.trace_rows(tenant, after, PAGE).await?;
            if rows.is_empty() {
                break;
            }
            for (seq, event, prev, hash) in &rows {
                let fault = match event_head(event) {
                    Ok((t, s)) => v.push_parts(&t, s, prev, hash, event.as_bytes()).err(),
                    Err(message) => Some(Fault::Malformed {
                        line: *seq,
                        message,
                    }),
                };
                if let Some(f) = fault {
                    return Ok(v.finish(Some(f)));
                }
                after = *seq;
            }
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
