//! Approval rows: a tenant's versioned approval policy, and approval
//! requests. A request is inserted in the transaction that appends its
//! escalated decision ([`Store::trace_append_with`]); every later change is
//! a compare-and-swap on its `version` in the transaction that appends the
//! change's trace events, so a change and its record commit together, and
//! two servers racing for one change (a vote and a deadline, two votes)
//! cannot both win.

use super::{Audit, NewEvent, Page, Saved, Store, StoreError, now_ms};
use crate::approval_writes::{APPROVALS_CHANNEL, COLUMNS, OUTBOX};
use sqlx::Row;
use sqlx::any::AnyRow;

/// An approval request as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovalRow {
    /// Approval id (time-ordered).
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// The request (run) id of the escalated decision.
    pub request_id: String,
    /// The escalated decision's id.
    pub decision_id: String,
    /// `pending`, `approved`, `denied` or `timed-out` (the server's words).
    pub status: String,
    /// The current step's deadline (Unix ms) while pending.
    pub deadline_ms: Option<i64>,
    /// Who may vote on the current step, space-delimited `kind:name`
    /// tokens with a space before and after each.
    pub eligible: String,
    /// Compare-and-swap version; 1 when inserted.
    pub version: i64,
    /// When it was opened (Unix ms).
    pub created_ms: i64,
    /// When it last changed (Unix ms).
    pub updated_ms: i64,
    /// The record (JSON), the server's to read.
    pub doc: String,
}

fn row(r: &AnyRow) -> Result<ApprovalRow, StoreError> {
    Ok(ApprovalRow {
        id: r.try_get("id")?,
        tenant: r.try_get("tenant")?,
        request_id: r.try_get("request_id")?,
        decision_id: r.try_get("decision_id")?,
        status: r.try_get("status")?,
        deadline_ms: r.try_get("deadline_ms")?,
        eligible: r.try_get("eligible")?,
        version: r.try_get("version")?,
        created_ms: r.try_get("created_ms")?,
        updated_ms: r.try_get("updated_ms")?,
        doc: r.try_get("doc")?,
    })
}

/// A notification of an approval change to one webhook.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    /// Delivery id (time-ordered; sent as `warden-delivery`).
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// The approval it is about.
    pub approval_id: String,
    /// Where it goes.
    pub url: String,
    /// `approval.requested`, `approval.step`, `approval.resolved`.
    pub event: String,
    /// The JSON body.
    pub body: String,
    /// Attempts so far.
    pub attempts: i64,
    /// When it is (next) due (Unix ms).
    pub next_ms: i64,
    /// 0 pending, 1 delivered, 2 given up.
    pub state: i64,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
    /// When it was written (Unix ms).
    pub created_ms: i64,
}

fn outbox_row(r: &AnyRow) -> Result<OutboxRow, StoreError> {
    Ok(OutboxRow {
        id: r.try_get("id")?,
        tenant: r.try_get("tenant")?,
        approval_id: r.try_get("approval_id")?,
        url: r.try_get("url")?,
        event: r.try_get("event")?,
        body: r.try_get("body")?,
        attempts: r.try_get("attempts")?,
        next_ms: r.try_get("next_ms")?,
        state: r.try_get("state")?,
        last_error: r.try_get("last_error")?,
        created_ms: r.try_get("created_ms")?,
    })
}

/// One job of a batch appended under the log's lock: its events, the
/// approval requests and notifications it opens, and the approval change it
/// makes, if any (a compare-and-swap: the stored version must be
/// `cas.version - 1`).
#[derive(Debug, Clone, Copy)]
pub struct Change<'a> {
    /// Events to append.
    pub events: &'a [NewEvent],
    /// Approval requests to insert.
    pub approvals: &'a [ApprovalRow],
    /// Notifications to insert.
    pub outbox: &'a [OutboxRow],
    /// The approval row to replace.
    pub cas: Option<&'a ApprovalRow>,
}

/// A request due for its deadline: which, and at what version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// The tenant.
    pub tenant: String,
    /// The approval id.
    pub id: String,
}

/// What the pending list of one approver selects on.
#[derive(Debug, Clone, Default)]
pub struct PendingFilter {
    /// The `kind:name` tokens the caller answers to (`user:alice`,
    /// `group:finance`); a request is listed if its current step names any
    /// exactly. Empty: every pending request (auditors).
    pub eligible: Vec<String>,
    /// Only requests of this run.
    pub request_id: Option<String>,
}

impl Store {
    /// Appends a batch of `changes` to `tenant`'s log in one transaction,
    /// under its head-row lock: each change's approval compare-and-swap
    /// first (the head, then the rows: the one lock order of every approval
    /// change), then the events of the changes whose swap held, chained in
    /// order, with the requests and notifications they open. Per change:
    /// its records, or `None` when its approval changed meanwhile (nothing
    /// of it was written).
    pub async fn trace_append_changes(
        &self,
        tenant: &str,
        changes: &[Change<'_>],
    ) -> Result<(Vec<Option<Vec<crate::Appended>>>, warden_trace::Chain), StoreError> {
        let _turn = self.write_turn().await;
        let mut tx = self.pool.begin().await?;
        let mut chain = self.lock_head(&mut tx, tenant).await?;
        let before = chain.clone();
        let swaps: Vec<&ApprovalRow> = changes.iter().filter_map(|c| c.cas).collect();
        let mut swapped = crate::approval_writes::swap_in(&mut tx, self.backend, tenant, &swaps)
            .await?
            .into_iter();
        let held: Vec<bool> = changes
            .iter()
            .map(|c| c.cas.is_none() || swapped.next().unwrap_or(false))
            .collect();
        let events: Vec<NewEvent> = changes
            .iter()
            .zip(&held)
            .filter(|(_, ok)| **ok)
            .flat_map(|(c, _)| c.events.iter().cloned())
            .collect();
        let records =
            crate::trace::write_events(&mut tx, tenant, &mut chain, &events, self.backend).await?;
        crate::trace::save_head(&mut tx, tenant, &chain).await?;
        let kept = || {
            changes
                .iter()
                .zip(&held)
                .filter(|(_, ok)| **ok)
                .map(|(c, _)| c)
        };
        let opened: Vec<&ApprovalRow> = kept().flat_map(|c| c.approvals).collect();
        crate::approval_writes::insert_in(&mut tx, self.backend, &opened).await?;
        let outbox: Vec<&OutboxRow> = kept().flat_map(|c| c.outbox).collect();
        crate::approval_writes::outbox_in(&mut tx, self.backend, &outbox).await?;
        let changed: Vec<&str> = kept()
            .filter_map(|c| c.cas)
            .map(|r| r.id.as_str())
            .collect();
        crate::approval_writes::notify_in(&mut tx, self.backend, &changed).await?;
        self.custody.extended(tenant, &before, &chain);
        tx.commit().await?;
        let mut records = records.into_iter();
        let out = changes
            .iter()
            .zip(held)
            .map(|(c, ok)| ok.then(|| records.by_ref().take(c.events.len()).collect()))
            .collect();
        Ok((out, chain))
    }

    /// The tenant's approval policy document and its version, if saved.
    pub async fn approval_policy(&self, tenant: &str) -> Result<Option<(i64, String)>, StoreError> {
        let r = sqlx::query("SELECT version, doc FROM approval_policies WHERE tenant = $1")
            .bind(tenant)
            .fetch_optional(&self.pool)
            .await?;
        Ok(match r {
            Some(r) => Some((r.try_get(0)?, r.try_get(1)?)),
            None => None,
        })
    }

    /// Saves the tenant's approval policy, recorded by `audit`, if its
    /// version is still `expected` (0: none saved yet). The new version is
    /// `expected + 1`.
    pub async fn save_approval_policy(
        &self,
        tenant: &str,
        expected: i64,
        doc: &str,
        audit: &Audit,
    ) -> Result<Saved, StoreError> {
        if self.tenant(tenant).await?.is_none() {
            return Ok(Saved::NotFound);
        }
        let mut tx = self.pool.begin().await?;
        let done = if expected == 0 {
            sqlx::query(
                "INSERT INTO approval_policies (tenant, version, doc, updated_ms) \
                 VALUES ($1, 1, $2, $3) ON CONFLICT (tenant) DO NOTHING",
            )
            .bind(tenant)
            .bind(doc)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?
        } else {
            sqlx::query(
                "UPDATE approval_policies SET version = version + 1, doc = $1, updated_ms = $2 \
                 WHERE tenant = $3 AND version = $4",
            )
            .bind(doc)
            .bind(now_ms())
            .bind(tenant)
            .bind(expected)
            .execute(&mut *tx)
            .await?
        };
        if done.rows_affected() == 0 {
            drop(tx);
            let current = self.approval_policy(tenant).await?.map_or(0, |(v, _)| v);
            return Ok(Saved::Stale(current));
        }
        self.commit_change(tx, audit).await?;
        Ok(Saved::Ok(expected + 1))
    }

    /// One approval request of `tenant`.
    pub async fn approval(
        &self,
        tenant: &str,
        id: &str,
    ) -> Result<Option<ApprovalRow>, StoreError> {
        let r = sqlx::query(&format!(
            "SELECT {COLUMNS} FROM approvals WHERE id = $1 AND tenant = $2"
        ))
        .bind(id)
        .bind(tenant)
        .fetch_optional(&self.pool)
        .await?;
        r.as_ref().map(row).transpose()
    }

    /// Pending requests of `tenant` that `filter` selects, oldest first,
    /// after `cursor` (an id).
    pub async fn pending_approvals(
        &self,
        tenant: &str,
        filter: &PendingFilter,
        cursor: Option<&str>,
        limit: usize,
    ) -> Result<Page<ApprovalRow>, StoreError> {
        // An approver's tokens match the column's space-delimited entries
        // exactly: LIKE's wildcards in them are escaped, and a token with a
        // space (which no policy can name) matches nothing. An approver left
        // with no token sees nothing, never everything.
        let eligible: Vec<String> = filter
            .eligible
            .iter()
            .filter(|e| !e.chars().any(char::is_whitespace))
            .map(|e| {
                let e = e
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_");
                format!("% {e} %")
            })
            .collect();
        if eligible.is_empty() && !filter.eligible.is_empty() {
            return Ok(Page::from_rows(Vec::new(), limit, |a: &ApprovalRow| {
                a.id.clone()
            }));
        }
        let mut sql = format!(
            "SELECT {COLUMNS} FROM approvals WHERE tenant = $1 AND status = 'pending' AND id > $2"
        );
        let mut n = 2;
        if filter.request_id.is_some() {
            n += 1;
            sql.push_str(&format!(" AND request_id = ${n}"));
        }
        if !eligible.is_empty() {
            let any: Vec<String> = eligible
                .iter()
                .map(|_| {
                    n += 1;
                    format!("eligible LIKE ${n} ESCAPE '\\'")
                })
                .collect();
            sql.push_str(&format!(" AND ({})", any.join(" OR ")));
        }
        n += 1;
        sql.push_str(&format!(" ORDER BY id LIMIT ${n}"));
        let mut q = sqlx::query(&sql).bind(tenant).bind(cursor.unwrap_or(""));
        if let Some(r) = &filter.request_id {
            q = q.bind(r.as_str());
        }
        for e in &eligible {
            q = q.bind(e.as_str());
        }
        let rows = q
            .bind(i64::try_from(limit + 1).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await?;
        let rows = rows.iter().map(row).collect::<Result<Vec<_>, _>>()?;
        Ok(Page::from_rows(rows, limit, |a| a.id.clone()))
    }

    /// Pending requests whose deadline is at or before `now_ms`, earliest
    /// first, across tenants.
    pub async fn due_approvals(&self, now_ms: i64, limit: usize) -> Result<Vec<Due>, StoreError> {
        let rows = sqlx::query(
            "SELECT tenant, id FROM approvals WHERE status = 'pending' AND deadline_ms <= $1 \
             ORDER BY deadline_ms LIMIT $2",
        )
        .bind(now_ms)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(Due {
                    tenant: r.try_get(0)?,
                    id: r.try_get(1)?,
                })
            })
            .collect()
    }

    /// Leases up to `limit` notifications due at `now_ms` for `lease_ms`
    /// (their `next_ms` moves to the lease's end, so no other server takes
    /// them meanwhile) and counts the attempt; earliest first.
    pub async fn lease_outbox(
        &self,
        now_ms: i64,
        lease_ms: i64,
        limit: usize,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let _turn = self.write_turn().await;
        // The outer condition is checked again on each row as it is
        // updated, so two servers leasing at once cannot both take one.
        let rows = sqlx::query(&format!(
            "UPDATE approval_outbox SET next_ms = $1, attempts = attempts + 1 \
             WHERE state = 0 AND next_ms <= $2 AND id IN \
             (SELECT id FROM approval_outbox WHERE state = 0 AND next_ms <= $2 \
              ORDER BY next_ms LIMIT $3) RETURNING {OUTBOX}"
        ))
        .bind(now_ms.saturating_add(lease_ms))
        .bind(now_ms)
        .bind(i64::try_from(limit).unwrap_or(i64::MAX))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_row).collect()
    }

    /// Records a delivery attempt's outcome: delivered, or due again at
    /// `retry_ms`, or given up (`retry_ms` `None`) with `error`.
    pub async fn outbox_attempted(
        &self,
        id: &str,
        error: Option<&str>,
        retry_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        let (state, next) = match (error, retry_ms) {
            (None, _) => (1, 0),
            (Some(_), Some(at)) => (0, at),
            (Some(_), None) => (2, 0),
        };
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE approval_outbox SET state = $1, next_ms = CASE WHEN $1 = 0 THEN $2 ELSE next_ms END, \
             last_error = $3 WHERE id = $4",
        )
        .bind(state)
        .bind(next)
        .bind(error)
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The notifications of one approval, oldest first.
    pub async fn outbox_of(
        &self,
        tenant: &str,
        approval_id: &str,
    ) -> Result<Vec<OutboxRow>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {OUTBOX} FROM approval_outbox WHERE tenant = $1 AND approval_id = $2 ORDER BY id"
        ))
        .bind(tenant)
        .bind(approval_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(outbox_row).collect()
    }

    /// A listener for committed approval changes on PostgreSQL (each
    /// notification's payload is an approval id); `None` on SQLite, where
    /// one process sees all its own changes.
    pub async fn approval_listener(
        &self,
    ) -> Result<Option<sqlx::postgres::PgListener>, StoreError> {
        let Some(pool) = &self.append_pool else {
            return Ok(None);
        };
        let mut l = sqlx::postgres::PgListener::connect_with(pool).await?;
        l.listen(APPROVALS_CHANNEL).await?;
        Ok(Some(l))
    }
}
