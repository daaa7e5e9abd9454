//! Isolation between tenants: a pack that keeps failing is quarantined for
//! its tenant (decisions fail closed at once, no wasm runs), the API and
//! the trace log say so, a probe closes it again; other tenants are served
//! throughout. Evaluation runs on the fair pool, and a tenant that queues
//! more than its share is told to retry.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::{Duration, Instant};
use warden_server::auth::Role;
use warden_testkit::both;
use warden_testkit::pack_bytes;

/// Tenant `noisy`, composed of the hostile pack alone, quarantined after
/// 3 failures with a short back-off.
async fn noisy(app: &App) {
    let admin = app.admin();
    let r = app
        .post(
            "/v1/tenants",
            &admin,
            &json!({"id": "noisy", "settings": {"quarantine":
                {"failures": 3, "window_ms": 60000, "backoff_ms": 400, "max_backoff_ms": 2000}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let op = app.token("noisy", &[Role::Operator]);
    let r = app
        .upload("/v1/tenants/noisy/packs", &op, pack_bytes("hostile"), None)
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let r = app
        .put(
            "/v1/tenants/noisy/composition",
            &op,
            &json!({"version": 0, "composition": {"default_effect": "allow",
                    "packs": [{"name": "hostile", "source": "tenant"}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
}

fn call(tool: &str, id: &str) -> Value {
    json!({"id": id, "tenant": "noisy", "principal": {"agent": "a"},
           "action": {"tool": tool, "safety_class": "write"}})
}

/// `n` calls of `tool` by `noisy` at once, each from its own task.
fn at_once(
    app: &std::sync::Arc<App>,
    rt: &str,
    n: usize,
    tool: &'static str,
    prefix: &'static str,
) -> Vec<tokio::task::JoinHandle<Resp>> {
    (0..n)
        .map(|i| {
            let (app, rt) = (app.clone(), rt.to_owned());
            tokio::spawn(async move {
                app.post(
                    "/v1/tenants/noisy/evaluate",
                    &rt,
                    &call(tool, &format!("{prefix}{i}")),
                )
                .await
            })
        })
        .collect()
}

/// Asserts a 429 telling the caller to retry in a second.
#[track_caller]
fn told_to_retry(r: &Resp) {
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{:?}", r.json);
    assert_eq!(r.problem(), "too-many-requests", "{:?}", r.json);
    assert_eq!(r.headers["retry-after"], "1");
}

async fn events_of(app: &App, kind: &str) -> Vec<Value> {
    let rows = app
        .state
        .store()
        .trace_rows("noisy", 0, 10_000)
        .await
        .unwrap();
    rows.iter()
        .filter(|r| r.kind == kind)
        .map(|r| serde_json::from_str::<Value>(&r.event).unwrap()["body"]["detail"].clone())
        .collect()
}

/// Polls until the tenant's log holds `n` events of `kind` (they are
/// written by a background task).
async fn wait_for(app: &App, kind: &str, n: usize) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let got = events_of(app, kind).await;
        if got.len() >= n || Instant::now() > deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

both!(
    a_failing_pack_is_quarantined_and_released,
    |app: App| async move {
        let app = app;
        noisy(&app).await;
        app.tenant_with("quiet", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        let rt = app.token("noisy", &[Role::Runtime]);
        let quiet = app.token("quiet", &[Role::Runtime]);
        // Three deadline failures: each fails closed naming the deadline.
        for i in 0..3 {
            let r = app
                .post(
                    "/v1/tenants/noisy/evaluate",
                    &rt,
                    &call("loop", &format!("l{i}")),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
            assert_eq!(r.json["verdict"], "deny");
            assert!(
                r.json["reason"].as_str().unwrap().contains("deadline"),
                "{:?}",
                r.json
            );
        }
        // Now quarantined: denied at once, no wasm runs (well under the deadline).
        let started = Instant::now();
        let r = app
            .post("/v1/tenants/noisy/evaluate", &rt, &call("loop", "q1"))
            .await;
        assert!(
            started.elapsed() < Duration::from_millis(40),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(r.json["verdict"], "deny", "{:?}", r.json);
        let run = &r.json["explanation"]["packs"][0];
        assert!(
            run["status"].as_str().unwrap().starts_with("quarantined"),
            "{run}"
        );
        assert!(
            r.json["reason"].as_str().unwrap().contains("quarantined"),
            "{:?}",
            r.json
        );
        // Even a request the pack would allow: nothing runs while quarantined.
        let r = app
            .post("/v1/tenants/noisy/evaluate", &rt, &call("fine", "q2"))
            .await;
        assert_eq!(r.json["verdict"], "deny", "{:?}", r.json);
        // The API shows it; the log records it.
        let q = app.get("/v1/tenants/noisy/quarantine", &rt).await;
        assert_eq!(q.status, StatusCode::OK, "{:?}", q.json);
        assert_eq!(q.json["items"][0]["pack"], "hostile");
        assert_eq!(q.json["items"][0]["state"], "open");
        assert!(q.json["items"][0]["open_until_ms"].as_i64().is_some());
        let opened = wait_for(&app, "pack-quarantined", 1).await;
        assert_eq!(opened.len(), 1, "{opened:?}");
        assert_eq!(opened[0]["pack"], "hostile");
        assert_eq!(opened[0]["failures"], 3);
        // Other tenants are not affected, and see nothing of it.
        let r = app
            .post(
                "/v1/tenants/quiet/evaluate",
                &quiet,
                &payment("quiet", "p1", 100),
            )
            .await;
        assert_eq!(r.json["verdict"], "allow", "{:?}", r.json);
        let q = app.get("/v1/tenants/quiet/quarantine", &quiet).await;
        assert_eq!(q.json["items"], json!([]));
        let q = app.get("/v1/tenants/noisy/quarantine", &quiet).await;
        assert_eq!(q.status, StatusCode::FORBIDDEN);
        // After the back-off, a good probe closes it.
        tokio::time::sleep(Duration::from_millis(450)).await;
        let r = app
            .post("/v1/tenants/noisy/evaluate", &rt, &call("fine", "probe"))
            .await;
        assert_eq!(r.json["verdict"], "allow", "{:?}", r.json);
        let released = wait_for(&app, "pack-released", 1).await;
        assert_eq!(released.len(), 1, "{released:?}");
        let q = app.get("/v1/tenants/noisy/quarantine", &rt).await;
        assert_eq!(q.json["items"], json!([]), "{:?}", q.json);
        // The whole story verifies in the tenant's log.
        let audit = app.token("noisy", &[Role::Auditor]);
        let v = app.get("/v1/tenants/noisy/trace/verify", &audit).await;
        assert!(v.json["fault"].is_null(), "{:?}", v.json);
    }
);

both!(a_quarantined_tenant_is_paced, |app: App| async move {
    let app = std::sync::Arc::new(app);
    noisy(&app).await;
    let r = app
        .patch(
            "/v1/tenants/noisy",
            &app.admin(),
            &json!({"settings": {"quarantine": {"failures": 3, "window_ms": 60000,
                "backoff_ms": 60000, "max_backoff_ms": 60000, "paced_per_s": 1}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    app.tenant_with("quiet", &["treasury"], json!({"default_effect": "allow"}))
        .await;
    let rt = app.token("noisy", &[Role::Runtime]);
    let quiet = app.token("quiet", &[Role::Runtime]);
    for i in 0..3 {
        let r = app
            .post(
                "/v1/tenants/noisy/evaluate",
                &rt,
                &call("loop", &format!("l{i}")),
            )
            .await;
        assert_eq!(r.json["verdict"], "deny", "{:?}", r.json);
    }
    // The first quarantined decision paces the tenant: 1 a second, and
    // no decision waits over a second for its turn.
    let r = app
        .post("/v1/tenants/noisy/evaluate", &rt, &call("fine", "q0"))
        .await;
    assert_eq!(r.json["verdict"], "deny", "{:?}", r.json);
    let retries = at_once(&app, &rt, 12, "fine", "r");
    // Meanwhile the other tenant is served as usual.
    let r = app
        .post(
            "/v1/tenants/quiet/evaluate",
            &quiet,
            &payment("quiet", "p", 100),
        )
        .await;
    assert_eq!(r.json["verdict"], "allow", "{:?}", r.json);
    let mut decided = 0;
    for t in retries {
        let r = t.await.unwrap();
        match r.status {
            StatusCode::OK => {
                assert_eq!(r.json["verdict"], "deny", "{:?}", r.json);
                decided += 1;
            }
            StatusCode::TOO_MANY_REQUESTS => told_to_retry(&r),
            s => panic!("{s}: {:?}", r.json),
        }
    }
    // Turns now and in a second: at most two (unless the 12 took over a
    // second to arrive).
    assert!((1..=2).contains(&decided), "{decided} of 12 decided");
    // The pace is a setting: bounded like the others.
    let r = app
        .patch(
            "/v1/tenants/noisy",
            &app.admin(),
            &json!({"settings": {"quarantine": {"paced_per_s": 10_000_000}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json);
    assert!(r.detail().contains("paced_per_s"), "{:?}", r.json);
});

both!(quarantine_settings_are_validated, |app: App| async move {
    let admin = app.admin();
    for (bad, says) in [
        (json!({"backoff_ms": 0}), "backoff_ms"),
        (json!({"window_ms": 100000000000u64}), "window_ms"),
        (
            json!({"backoff_ms": 5000, "max_backoff_ms": 10}),
            "max_backoff_ms",
        ),
        (json!({"failures": "five"}), "failures"),
    ] {
        let r = app
            .post(
                "/v1/tenants",
                &admin,
                &json!({"id": "t", "settings": {"quarantine": bad}}),
            )
            .await;
        assert!(r.status.is_client_error(), "{bad}: {:?}", r.json);
        assert!(r.detail().contains(says), "{bad}: {:?}", r.json);
    }
});

/// Behind the pool: when a tenant's queue is full its callers get 429 with
/// `Retry-After` at once, and the other tenants are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_tenant_over_its_share_is_told_to_retry() {
    let app = std::sync::Arc::new(
        App::with(Backend::Sqlite, |c| {
            c.eval_pool = Some(warden_host::PoolConfig {
                threads: 2,
                lane_running: 1,
                lane_queue: 2,
                total_queue: 100,
            });
        })
        .await,
    );
    noisy(&app).await;
    // Never quarantined here: this is about the queue.
    let r = app
        .patch(
            "/v1/tenants/noisy",
            &app.admin(),
            &json!({"settings": {"quarantine": {"failures": 0}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    app.tenant_with("quiet", &["treasury"], json!({"default_effect": "allow"}))
        .await;
    let rt = app.token("noisy", &[Role::Runtime]);
    let quiet = app.token("quiet", &[Role::Runtime]);
    // One decision each way first: quiet's runtime is built, noisy's
    // pack has spent half its slow budget (ADR 0022: one more slow
    // evaluation may still run in place).
    let r = app
        .post(
            "/v1/tenants/quiet/evaluate",
            &quiet,
            &payment("quiet", "w", 100),
        )
        .await;
    assert_eq!(r.json["verdict"], "allow", "{:?}", r.json);
    let r = app
        .post("/v1/tenants/noisy/evaluate", &rt, &call("loop", "first"))
        .await;
    assert_eq!(r.json["verdict"], "deny", "{:?}", r.json);
    // Quiet idle long enough not to count as active: admission lets noisy
    // send everything, and its queue on the pool is what refuses.
    tokio::time::sleep(Duration::from_millis(400)).await;
    // 8 looping calls at once, each from its own task: one on the pool
    // runs and two wait there, one may run in place, the rest are refused.
    let flood = at_once(&app, &rt, 8, "loop", "f");
    tokio::time::sleep(Duration::from_millis(10)).await;
    let started = Instant::now();
    let quiet_r = app
        .post(
            "/v1/tenants/quiet/evaluate",
            &quiet,
            &payment("quiet", "p", 100),
        )
        .await;
    let quiet_took = started.elapsed();
    let mut flooded = Vec::new();
    for f in flood {
        flooded.push(f.await.unwrap());
    }
    assert_eq!(quiet_r.json["verdict"], "allow", "{:?}", quiet_r.json);
    assert!(quiet_took < Duration::from_millis(100), "{quiet_took:?}");
    let refused: Vec<_> = flooded
        .iter()
        .filter(|r| r.status == StatusCode::TOO_MANY_REQUESTS)
        .collect();
    assert!(!refused.is_empty(), "no call was refused");
    for r in &refused {
        told_to_retry(r);
    }
    let decided = flooded
        .iter()
        .filter(|r| r.status == StatusCode::OK)
        .count();
    assert!((1..=4).contains(&decided), "{decided} decided");
}
