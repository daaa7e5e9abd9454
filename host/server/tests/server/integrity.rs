//! Nothing is signed over history that was not verified: a log rewritten
//! under a signed checkpoint (consistently re-chained, head row moved) is
//! refused by the next checkpoint, scheduled or on demand, raises an alarm,
//! and is reported by API and CLI verification; so is a truncation.

use crate::harness::*;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use warden_server::auth::Role;
use warden_server::trace::{Chain, EventClass, parse_hash};
use warden_server::trace_log::checkpointer;
use warden_server::trace_log::events::FLEET_LOG;
use warden_server::trace_log::integrity::ALARM_KIND;
use warden_testkit::both;

async fn decide(app: &App, n: usize, prefix: &str) {
    let rt = app.token("acme", &[Role::Runtime]);
    for i in 0..n {
        let r = app
            .post(
                "/v1/tenants/acme/evaluate",
                &rt,
                &payment("acme", &format!("{prefix}{i}"), 100),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    }
}

/// Rewrites the stored log from `from` on as a forger with database access
/// would: different events, every link recomputed, the head row moved.
pub(crate) async fn rewrite_from(app: &App, from: u64) {
    rewrite_log(app, "acme", from).await;
}

/// [`rewrite_from`] for any log (a tenant's, or the fleet log).
pub(crate) async fn rewrite_log(app: &App, log: &str, from: u64) {
    let store = app.state.store();
    let (last, _) = store.trace_head(log).await.unwrap().unwrap();
    let before = store.trace_rows(log, from - 2, 1).await.unwrap();
    let mut chain = Chain::resume(log, from - 1, parse_hash(&before[0].hash).unwrap());
    sqlx::query("DELETE FROM trace_events WHERE tenant = $1 AND seq >= $2")
        .bind(log)
        .bind(from as i64)
        .execute(store.pool())
        .await
        .unwrap();
    for i in from..=last {
        let body = format!("{{\"forged\":{i},\"verdict\":\"allow\"}}");
        let (seq, prev, hash, text) = chain
            .append_canonical(1, EventClass::Financial, "decision", &body)
            .unwrap();
        sqlx::query(
            "INSERT INTO trace_events (tenant, seq, at_ms, class, kind, event, prev, hash) \
             VALUES ($1, $2, 1, 'financial', 'decision', $3, $4, $5)",
        )
        .bind(log)
        .bind(seq as i64)
        .bind(text)
        .bind(prev)
        .bind(hash)
        .execute(store.pool())
        .await
        .unwrap();
    }
    sqlx::query("UPDATE trace_heads SET seq = $1, head = $2 WHERE tenant = $3")
        .bind(chain.last_seq() as i64)
        .bind(hex::encode(chain.head()))
        .bind(log)
        .execute(store.pool())
        .await
        .unwrap();
    // Internally consistent: the chain alone verifies.
    assert!(store.trace_verify(log).await.unwrap().ok());
}

async fn alarms(app: &App) -> Vec<Value> {
    let rows = app
        .state
        .store()
        .trace_rows(FLEET_LOG, 0, 10_000)
        .await
        .unwrap();
    rows.iter()
        .filter(|r| r.kind == ALARM_KIND)
        .map(|r| serde_json::from_str(&r.event).unwrap())
        .collect()
}

async fn cli_verify(app: &App) -> (u8, Value) {
    let (code, out, err) = cli(app, &["trace", "verify", "--tenant", "acme"]).await;
    let report = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}\n{err}"));
    (code, report)
}

both!(
    a_rewrite_under_a_signed_checkpoint_is_never_signed,
    |app: App| async move {
        let app = app;
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        let auditor = app.token("acme", &[Role::Auditor]);
        decide(&app, 6, "a").await;
        let r = app
            .post("/v1/tenants/acme/trace/checkpoint", &auditor, &json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let signed = r.json["checkpoint"]["seq"].as_u64().unwrap();
        // Verified history is signed as before: more decisions, another checkpoint.
        decide(&app, 2, "b").await;
        let r = app
            .post("/v1/tenants/acme/trace/checkpoint", &auditor, &json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let second = r.json["checkpoint"]["seq"].as_u64().unwrap();
        assert_eq!(second, signed + 2);
        let (code, report) = cli_verify(&app).await;
        assert_eq!(code, 0, "{report}");

        // Rewrite from below the first checkpoint, then let an ordinary
        // decision through onto the forged head.
        rewrite_from(&app, signed - 2).await;
        decide(&app, 1, "c").await;
        // A checkpoint is now due on every pass of the schedule.
        let r = app
            .patch(
                "/v1/tenants/acme",
                &app.admin(),
                &json!({"settings": {"trace": {"checkpoint_every_events": 1}}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let store = app.state.store();
        let (head_seq, _) = store.trace_head("acme").await.unwrap().unwrap();
        assert_eq!(head_seq, second + 2);

        // On demand: refused, naming the fault.
        let r = app
            .post("/v1/tenants/acme/trace/checkpoint", &auditor, &json!({}))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
        assert_eq!(r.problem(), "log-does-not-verify", "{:?}", r.json);
        assert!(
            r.detail().contains(&format!("sequence {second}")),
            "{:?}",
            r.json
        );
        assert_eq!(r.json["fault"]["fault"], "broken-link", "{:?}", r.json);
        // Scheduled: not signed either.
        checkpointer::run_once(&app.state).await.unwrap();
        let latest = store
            .trace_checkpoint_latest("acme")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(latest.checkpoint.seq, second, "a forged head was signed");
        // One alarm in the fleet log for this head, however often refused;
        // the refusals are counted for monitoring.
        let alarms = alarms(&app).await;
        assert_eq!(alarms.len(), 1, "{alarms:?}");
        assert_eq!(alarms[0]["body"]["detail"]["log"], "acme");
        assert_eq!(alarms[0]["body"]["detail"]["seq"], head_seq);
        let ready = app
            .call(Method::GET, "/readyz", None, None, Vec::new(), &[])
            .await;
        assert!(
            ready.json["checkpoints_refused"].as_u64().unwrap() >= 2,
            "{:?}",
            ready.json
        );

        // Verification, API and CLI, holds the log to every checkpoint:
        // the rewrite is found at the first signed head it changed.
        let v = app.get("/v1/tenants/acme/trace/verify", &auditor).await;
        assert_eq!(v.json["fault"]["fault"], "head-mismatch", "{:?}", v.json);
        assert_eq!(v.json["fault"]["seq"], signed, "{:?}", v.json);
        let (code, report) = cli_verify(&app).await;
        assert_eq!(code, 1, "{report}");
        assert_eq!(report["fault"]["seq"], signed, "{report}");
    }
);

both!(
    a_truncation_is_reported_by_api_and_cli,
    |app: App| async move {
        let app = app;
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        let auditor = app.token("acme", &[Role::Auditor]);
        decide(&app, 4, "a").await;
        let r = app
            .post("/v1/tenants/acme/trace/checkpoint", &auditor, &json!({}))
            .await;
        let signed = r.json["checkpoint"]["seq"].as_u64().unwrap();
        // The last two events and the head row go back, as if never written.
        let store = app.state.store();
        sqlx::query("DELETE FROM trace_events WHERE tenant = 'acme' AND seq > $1")
            .bind((signed - 2) as i64)
            .execute(store.pool())
            .await
            .unwrap();
        let rows = store.trace_rows("acme", signed - 3, 1).await.unwrap();
        sqlx::query("UPDATE trace_heads SET seq = $1, head = $2 WHERE tenant = 'acme'")
            .bind((signed - 2) as i64)
            .bind(&rows[0].hash)
            .execute(store.pool())
            .await
            .unwrap();
        let v = app.get("/v1/tenants/acme/trace/verify", &auditor).await;
        assert_eq!(v.json["fault"]["fault"], "truncated", "{:?}", v.json);
        assert_eq!(v.json["fault"]["seq"], signed, "{:?}", v.json);
        let (code, report) = cli_verify(&app).await;
        assert_eq!(code, 1, "{report}");
        assert_eq!(report["fault"]["fault"], "truncated", "{report}");
    }
);
