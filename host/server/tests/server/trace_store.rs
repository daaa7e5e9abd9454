//! The trace log in the store: appends under concurrency stay contiguous and
//! chained; tampering with stored rows is found at the right sequence number.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::json;
use warden_server::auth::Role;
use warden_server::trace::{EventClass, Fault};
use warden_server::trace_log::appender::Appender;
use warden_store::NewEvent;
use warden_testkit::both;

fn ev(i: u64) -> NewEvent {
    NewEvent::new(
        1_700_000_000_000 + i as i64,
        EventClass::Financial,
        "decision",
        &json!({"verdict": "allow", "n": i, "note": "ünïcödé"}),
    )
    .unwrap()
}

both!(
    appends_are_contiguous_under_concurrency,
    |app: App| async move {
        // Hold the whole app (data directory, database): an async block would
        // otherwise capture only the field it uses and drop the rest.
        let app = app;
        let store = app.state.store().clone();
        // 8 writers x 20 batches of 1-3 events on one tenant, plus another tenant.
        let mut tasks = Vec::new();
        for w in 0..8u64 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let mut n = 0;
                for b in 0..20u64 {
                    let size = 1 + (w + b) % 3;
                    let batch: Vec<NewEvent> =
                        (0..size).map(|i| ev(w * 1000 + b * 10 + i)).collect();
                    let recs = store.trace_append("acme", &batch).await.unwrap();
                    // A batch gets consecutive sequence numbers.
                    for pair in recs.windows(2) {
                        assert_eq!(pair[1].seq, pair[0].seq + 1);
                        assert_eq!(pair[1].prev, pair[0].hash);
                    }
                    n += recs.len();
                }
                n
            }));
        }
        store.trace_append("beta", &[ev(1), ev(2)]).await.unwrap();
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        let (last, _) = store.trace_head("acme").await.unwrap().unwrap();
        assert_eq!(last, total as u64);
        let rows = store.trace_rows("acme", 0, 100_000).await.unwrap();
        let seqs: Vec<u64> = rows.iter().map(|r| r.seq).collect();
        assert_eq!(seqs, (1..=total as u64).collect::<Vec<_>>());
        let report = store.trace_verify("acme").await.unwrap();
        assert!(report.ok(), "{report:?}");
        assert_eq!(report.events, total as u64);
        assert!(store.trace_verify("beta").await.unwrap().ok());
    }
);

both!(
    tampered_rows_are_found_at_their_sequence_number,
    |app: App| async move {
        // Hold the whole app (data directory, database): an async block would
        // otherwise capture only the field it uses and drop the rest.
        let app = app;
        let store = app.state.store().clone();
        let pool = store.pool().clone();
        for t in ["t-change", "t-delete", "t-swap", "t-insert", "t-truncate"] {
            let batch: Vec<NewEvent> = (1..=20).map(ev).collect();
            store.trace_append(t, &batch).await.unwrap();
            assert!(store.trace_verify(t).await.unwrap().ok());
        }
        let exec = |sql: String| {
            let pool = pool.clone();
            async move { sqlx::query(&sql).execute(&pool).await.unwrap() }
        };
        // One changed byte.
        exec("UPDATE trace_events SET event = REPLACE(event, '\"n\":5,', '\"n\":6,') WHERE tenant = 't-change' AND seq = 5".into()).await;
        assert_eq!(
            store.trace_verify("t-change").await.unwrap().fault,
            Some(Fault::Changed { seq: 5 })
        );
        // A removed event.
        exec("DELETE FROM trace_events WHERE tenant = 't-delete' AND seq = 7".into()).await;
        assert_eq!(
            store.trace_verify("t-delete").await.unwrap().fault,
            Some(Fault::Removed { seq: 7, found: 8 })
        );
        // Two events' contents swapped (sequence numbers left in place).
        exec("UPDATE trace_events SET seq = -9 WHERE tenant = 't-swap' AND seq = 9".into()).await;
        exec("UPDATE trace_events SET seq = 9 WHERE tenant = 't-swap' AND seq = 10".into()).await;
        exec("UPDATE trace_events SET seq = 10 WHERE tenant = 't-swap' AND seq = -9".into()).await;
        let f = store.trace_verify("t-swap").await.unwrap().fault.unwrap();
        assert_eq!(f.seq(), Some(9), "{f}");
        // A forged row inserted at the end without the chain's hashes.
        exec("INSERT INTO trace_events (tenant, seq, at_ms, class, kind, event, prev, hash) \
          SELECT tenant, 21, at_ms, class, kind, REPLACE(event, '\"seq\":20', '\"seq\":21'), hash, hash \
          FROM trace_events WHERE tenant = 't-insert' AND seq = 20".into()).await;
        assert_eq!(
            store.trace_verify("t-insert").await.unwrap().fault,
            Some(Fault::Changed { seq: 21 })
        );
        // The tail removed: the head row still says 20.
        exec("DELETE FROM trace_events WHERE tenant = 't-truncate' AND seq > 15".into()).await;
        assert_eq!(
            store.trace_verify("t-truncate").await.unwrap().fault,
            Some(Fault::Truncated { seq: 20, last: 15 })
        );
    }
);

both!(
    pipelined_appenders_sharing_a_log_never_fork_it,
    |app: App| async move {
        let app = app;
        let store = app.state.store().clone();
        // Two appenders on one database: two servers' lanes for one tenant.
        // Each pipelines batches on the head it last saw; the other keeps
        // moving that head, so predictions fail and fall back to the lock.
        let a = Appender::start(store.clone());
        let b = Appender::start(store.clone());
        let mut tasks = Vec::new();
        for w in 0..16u64 {
            let appender = if w % 2 == 0 { a.clone() } else { b.clone() };
            tasks.push(tokio::spawn(async move {
                let mut got = Vec::new();
                for i in 0..25u64 {
                    let n = w * 1000 + i;
                    let recs = appender.append("acme", vec![ev(n)]).await.unwrap();
                    got.push((recs[0].seq, n));
                }
                got
            }));
        }
        let mut acked = Vec::new();
        for t in tasks {
            acked.extend(t.await.unwrap());
        }
        assert_eq!(acked.len(), 400);
        let rows = store.trace_rows("acme", 0, 100_000).await.unwrap();
        assert_eq!(rows.len(), 400, "no gap, no duplicate");
        for (seq, n) in acked {
            let ev: serde_json::Value =
                serde_json::from_str(&rows[seq as usize - 1].event).unwrap();
            assert_eq!(ev["body"]["n"], n, "seq {seq} holds what was acknowledged");
        }
        let report = store.trace_verify("acme").await.unwrap();
        assert!(report.ok(), "{report:?}");
    }
);

/// PostgreSQL drops every connection of the database (a restart, a failover,
/// an operator's `pg_terminate_backend`): once they have sat idle, pooled
/// connections are checked before use and replaced, so the next decisions
/// are made and recorded, and the chain stays whole.
#[tokio::test]
async fn decisions_are_recorded_after_the_database_drops_idle_connections() {
    // A long refresh interval: no background poll may find the dead
    // connections first; the pool's own check must.
    let app = App::with(Backend::Postgres, |c| {
        c.refresh_interval = std::time::Duration::from_secs(600);
    })
    .await;
    app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
        .await;
    let rt = app.token("acme", &[Role::Runtime]);
    let r = app
        .post(
            "/v1/tenants/acme/evaluate",
            &rt,
            &payment("acme", "before", 1_000),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let db = app.pg.as_ref().unwrap().name.clone();
    let mut admin = {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap()
    };
    let killed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = $1 AND pid <> pg_backend_pid()) AS t",
    )
    .bind(&db)
    .fetch_one(&mut admin)
    .await
    .unwrap();
    assert!(killed > 0, "the pool held no connection to drop");
    // Longer than the store's `PING_IF_IDLE_FOR` (1 s): every dead
    // connection is now due for its check.
    tokio::time::sleep(std::time::Duration::from_millis(1_200)).await;
    let mut seqs = Vec::new();
    for i in 0..20 {
        let r = app
            .post(
                "/v1/tenants/acme/evaluate",
                &rt,
                &payment("acme", &format!("after-{i}"), 1_000),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "decision {i}: {:?}", r.json);
        seqs.push(r.json["trace_seq"].as_u64().unwrap());
    }
    assert!(seqs.windows(2).all(|w| w[1] == w[0] + 1), "{seqs:?}");
    let report = app.state.store().trace_verify("acme").await.unwrap();
    assert_eq!(report.fault, None);
    assert_eq!(report.last_seq, *seqs.last().unwrap());
}

both!(
    a_batch_chained_after_a_stale_head_writes_nothing,
    |app: App| async move {
        use sqlx::Row;
        use warden_server::trace::Chain;
        use warden_store::{EventIndex, chain_events};
        let app = app;
        let store = app.state.store().clone();
        let (_, head) = store.trace_append_locked("acme", &[ev(1)]).await.unwrap();
        let batch: Vec<NewEvent> = (2..=4)
            .map(|i| {
                ev(i).with_index(EventIndex {
                    agent: Some(format!("agent-{i}")),
                    tool: (i != 3).then(|| "payments.pay".to_owned()),
                    verdict: Some("allow".into()),
                    decision_id: Some(format!("d-{i}")),
                    request_id: Some("run-1".into()),
                    packs: vec!["treasury@1.0.0".into(), "pii-strict@2.1.0".into()],
                })
            })
            .collect();
        // Chained after a head the log has already moved past (genesis).
        let stale = Chain::new("acme");
        let mut after = stale.clone();
        let rows = chain_events(&mut after, &batch).unwrap();
        let written = store
            .trace_append_after("acme", &stale, &after, &batch, &rows)
            .await
            .unwrap();
        assert!(!written, "a batch chained after a stale head was written");
        assert_eq!(store.trace_head("acme").await.unwrap().unwrap().0, 1);
        assert_eq!(store.trace_rows("acme", 0, 100).await.unwrap().len(), 1);
        // Chained after the real head: every row and its query columns land.
        let mut after = head.clone();
        let rows = chain_events(&mut after, &batch).unwrap();
        let written = store
            .trace_append_after("acme", &head, &after, &batch, &rows)
            .await
            .unwrap();
        assert!(written);
        // The same batch again, after the head it was chained from: refused.
        let again = store
            .trace_append_after("acme", &head, &after, &batch, &rows)
            .await
            .unwrap();
        assert!(!again, "the same batch was appended twice");
        let stored = sqlx::query(
            "SELECT seq, agent, tool, decision_id, request_id, packs FROM trace_events \
             WHERE tenant = 'acme' ORDER BY seq",
        )
        .fetch_all(store.pool())
        .await
        .unwrap();
        type Columns = (i64, Option<String>, Option<String>, Option<String>);
        let got: Vec<Columns> = stored
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(5)))
            .collect();
        let packs = Some(" treasury@1.0.0 pii-strict@2.1.0 ".to_owned());
        assert_eq!(
            got,
            vec![
                (1, None, None, None),
                (
                    2,
                    Some("agent-2".into()),
                    Some("payments.pay".into()),
                    packs.clone()
                ),
                (3, Some("agent-3".into()), None, packs.clone()),
                (
                    4,
                    Some("agent-4".into()),
                    Some("payments.pay".into()),
                    packs
                ),
            ]
        );
        assert_eq!(
            stored[3].get::<Option<String>, _>(3).as_deref(),
            Some("d-4")
        );
        assert_eq!(
            stored[3].get::<Option<String>, _>(4).as_deref(),
            Some("run-1")
        );
        let report = store.trace_verify("acme").await.unwrap();
        assert!(report.ok(), "{report:?}");
        assert_eq!(report.events, 4);
        // The lane's next batch, after the new head, still goes in.
        let mut next = after.clone();
        let more = vec![ev(5)];
        let rows = chain_events(&mut next, &more).unwrap();
        assert!(
            store
                .trace_append_after("acme", &after, &next, &more, &rows)
                .await
                .unwrap()
        );
        assert_eq!(store.trace_head("acme").await.unwrap().unwrap().0, 5);
    }
);

/// warden's PostgreSQL sessions ask the kernel to write their data back
/// early (ADR 0014), unless the operator configured it: then their value
/// stands, even 0.
#[tokio::test]
async fn postgres_sessions_flush_writes_early_unless_configured() {
    use warden_store::Store;
    let setting = |store: Store| async move {
        let v: String = sqlx::query_scalar("SELECT current_setting('backend_flush_after')")
            .fetch_one(store.pool())
            .await
            .unwrap();
        store.close().await;
        v
    };
    let db = PgDb::create().await;
    assert_eq!(
        setting(Store::connect(&db.url).await.unwrap()).await,
        "256kB"
    );
    let mut admin = {
        use sqlx::Connection;
        sqlx::PgConnection::connect(&pg_admin_url()).await.unwrap()
    };
    sqlx::query(&format!(
        "ALTER DATABASE {} SET backend_flush_after = 0",
        db.name
    ))
    .execute(&mut admin)
    .await
    .unwrap();
    assert_eq!(setting(Store::connect(&db.url).await.unwrap()).await, "0");
}

fn approval_row(id: &str, version: i64, status: &str) -> warden_store::ApprovalRow {
    warden_store::ApprovalRow {
        id: id.to_owned(),
        tenant: "acme".to_owned(),
        request_id: format!("run-{id}"),
        decision_id: format!("d-{id}"),
        status: status.to_owned(),
        deadline_ms: (status == "pending").then_some(1_700_000_100_000),
        eligible: " user:alice ".to_owned(),
        version,
        created_ms: 1_700_000_000_000,
        updated_ms: 1_700_000_000_000 + version,
        doc: format!("{{\"status\": \"{status}\", \"version\": {version}}}"),
    }
}

fn change<'a>(
    events: &'a [NewEvent],
    approvals: &'a [warden_store::ApprovalRow],
    cas: Option<&'a warden_store::ApprovalRow>,
) -> warden_store::Change<'a> {
    warden_store::Change {
        events,
        approvals,
        outbox: &[],
        cas,
    }
}

// A batch's approval changes are swapped in a few statements; the outcome
// must be that of swapping them one by one, in order, including two changes
// of one request in the same batch (a vote racing a deadline, two votes).
both!(
    a_batch_swaps_changes_as_if_one_by_one,
    |app: App| async move {
        let app = app;
        let store = app.state.store().clone();
        let opened: Vec<_> = ["a1", "a2", "a3"]
            .iter()
            .map(|id| approval_row(id, 1, "pending"))
            .collect();
        let e: Vec<NewEvent> = (0..8).map(ev).collect();
        let (done, _) = store
            .trace_append_changes("acme", &[change(&e[0..1], &opened, None)])
            .await
            .unwrap();
        assert!(done[0].is_some());
        // a1: two changes from version 1; the first wins, the second loses.
        // a2: the first change expects a version it does not have (stale),
        //     the second is current and wins.
        // a3: one change; and a change with no swap rides along.
        let a1_first = approval_row("a1", 2, "approved");
        let a1_second = approval_row("a1", 2, "denied");
        let a2_stale = approval_row("a2", 3, "denied");
        let a2_current = approval_row("a2", 2, "approved");
        let a3 = approval_row("a3", 2, "timed-out");
        let batch = [
            change(&e[1..2], &[], Some(&a1_first)),
            change(&e[2..3], &[], Some(&a2_stale)),
            change(&e[3..4], &[], Some(&a1_second)),
            change(&e[4..5], &[], Some(&a2_current)),
            change(&e[5..6], &[], Some(&a3)),
            change(&e[6..7], &[], None),
        ];
        let (done, _) = store.trace_append_changes("acme", &batch).await.unwrap();
        let held: Vec<bool> = done.iter().map(Option::is_some).collect();
        assert_eq!(held, [true, false, false, true, true, true]);
        for (id, version, status) in [
            ("a1", 2, "approved"),
            ("a2", 2, "approved"),
            ("a3", 2, "timed-out"),
        ] {
            let row = store.approval("acme", id).await.unwrap().unwrap();
            assert_eq!(
                (row.version, row.status.as_str()),
                (version, status),
                "{id}"
            );
        }
        // Only the held changes' events went in, chained after the first.
        let seqs: Vec<u64> = done.iter().flatten().flatten().map(|r| r.seq).collect();
        assert_eq!(seqs, [2, 3, 4, 5]);
        assert!(store.trace_verify("acme").await.unwrap().ok());
        // Another tenant's change of the same id swaps nothing.
        let mut foreign = approval_row("a3", 3, "approved");
        foreign.tenant = "beta".to_owned();
        let (done, _) = store
            .trace_append_changes("beta", &[change(&e[7..8], &[], Some(&foreign))])
            .await
            .unwrap();
        assert!(done[0].is_none());
        let row = store.approval("acme", "a3").await.unwrap().unwrap();
        assert_eq!((row.version, row.status.as_str()), (2, "timed-out"));
    }
);
