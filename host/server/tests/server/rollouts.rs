//! Staged rollouts: canary -> percentage -> full, pause, rollback, complete,
//! and shadow mode recording disagreements.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{Value, json};
use warden_server::auth::Role;
use warden_testkit::both;
use warden_testkit::pack_bytes;

const TENANTS: [&str; 8] = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"];

/// Uploads both versions of `rollout-demo` and composes every tenant of it.
async fn setup(app: &App) {
    let admin = app.admin();
    for v in ["rollout-v1", "rollout-v2"] {
        let r = app.upload("/v1/packs", &admin, pack_bytes(v), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    }
    for t in TENANTS {
        app.tenant_with(t, &["rollout-demo"], json!({})).await;
    }
}

/// 500.00: allowed by 1.0.0 (cap 1000.00), denied by 2.0.0 (cap 100.00).
async fn decide(app: &App, tenant: &str) -> Value {
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/evaluate"),
            &app.token(tenant, &[Role::Runtime]),
            &payment(tenant, "r", 50_000),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    r.json
}

async fn served(app: &App, tenant: &str) -> (String, String) {
    let d = decide(app, tenant).await;
    let version = d["serving"][0]["version"].as_str().unwrap().to_owned();
    let expected = if version == "2.0.0" { "deny" } else { "allow" };
    assert_eq!(
        d["verdict"], expected,
        "{version} must decide {expected}: {d}"
    );
    assert_eq!(d["explanation"]["packs"][0]["version"], version.as_str());
    (
        version,
        d["serving"][0]["reason"].as_str().unwrap_or("").to_owned(),
    )
}

both!(
    canary_percentage_full_then_rollback,
    |app: App| async move {
        setup(&app).await;
        let admin = app.admin();
        for t in TENANTS {
            assert_eq!(served(&app, t).await.0, "1.0.0");
        }
        let r = app
        .post("/v1/rollouts", &admin, &json!({"pack": "rollout-demo", "to": "2.0.0", "stage": {"kind": "canary", "tenants": ["t3"]}}))
        .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
        let id = r.json["id"].as_str().unwrap().to_owned();
        assert_eq!(r.json["from"], "1.0.0");
        for t in TENANTS {
            let (v, why) = served(&app, t).await;
            assert_eq!(v, if t == "t3" { "2.0.0" } else { "1.0.0" }, "{t}");
            assert!(why.contains(&id), "{why}");
        }
        // A second rollout of the same pack cannot start meanwhile.
        let r = app
            .post(
                "/v1/rollouts",
                &admin,
                &json!({"pack": "rollout-demo", "to": "2.0.0", "stage": {"kind": "full"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);

        // 50%: membership follows the stable bucket, and never flaps.
        let r = app
            .post(
                &format!("/v1/rollouts/{id}/advance"),
                &admin,
                &json!({"stage": {"kind": "percentage", "percent": 50}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let mut first = Vec::new();
        for t in TENANTS {
            let in_cohort = warden_host::rollout::bucket(&id, t) < 5000 || t == "t3";
            let (v, _) = served(&app, t).await;
            assert_eq!(v == "2.0.0", in_cohort, "{t}");
            first.push(v);
        }
        for (t, v) in TENANTS.iter().zip(&first) {
            assert_eq!(&served(&app, t).await.0, v, "{t} flapped");
        }
        // Backwards is refused; pause blocks progress but keeps the cohort.
        let r = app
            .post(
                &format!("/v1/rollouts/{id}/advance"),
                &admin,
                &json!({"stage": {"kind": "percentage", "percent": 10}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(
            app.post(&format!("/v1/rollouts/{id}/pause"), &admin, &json!({}))
                .await
                .status,
            StatusCode::OK
        );
        let r = app
            .post(
                &format!("/v1/rollouts/{id}/advance"),
                &admin,
                &json!({"stage": {"kind": "full"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        for (t, v) in TENANTS.iter().zip(&first) {
            assert_eq!(&served(&app, t).await.0, v, "{t} changed while paused");
        }
        app.post(&format!("/v1/rollouts/{id}/resume"), &admin, &json!({}))
            .await;
        let r = app
            .post(
                &format!("/v1/rollouts/{id}/advance"),
                &admin,
                &json!({"stage": {"kind": "full"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        for t in TENANTS {
            assert_eq!(served(&app, t).await.0, "2.0.0");
        }
        // Roll back from full: everyone on 1.0.0 again.
        let r = app
            .post(&format!("/v1/rollouts/{id}/rollback"), &admin, &json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        for t in TENANTS {
            assert_eq!(served(&app, t).await.0, "1.0.0");
        }
        let r = app.get(&format!("/v1/rollouts/{id}"), &admin).await;
        let actions: Vec<&str> = r.json["history"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["action"].as_str().unwrap())
            .collect();
        assert_eq!(
            actions,
            ["start", "advance", "pause", "resume", "advance", "rollback"]
        );
        let r = app.get("/v1/packs/rollout-demo", &admin).await;
        assert_eq!(r.json["current"], "1.0.0");
    }
);

both!(
    completing_makes_the_new_version_current,
    |app: App| async move {
        setup(&app).await;
        let admin = app.admin();
        let r = app
        .post("/v1/rollouts", &admin, &json!({"pack": "rollout-demo", "to": "2.0.0", "stage": {"kind": "canary", "tenants": ["t0"]}}))
        .await;
        let id = r.json["id"].as_str().unwrap().to_owned();
        // Not before the full stage.
        assert_eq!(
            app.post(&format!("/v1/rollouts/{id}/complete"), &admin, &json!({}))
                .await
                .status,
            StatusCode::CONFLICT
        );
        app.post(
            &format!("/v1/rollouts/{id}/advance"),
            &admin,
            &json!({"stage": {"kind": "full"}}),
        )
        .await;
        let r = app
            .post(&format!("/v1/rollouts/{id}/complete"), &admin, &json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(
            app.get("/v1/packs/rollout-demo", &admin).await.json["current"],
            "2.0.0"
        );
        for t in TENANTS {
            let (v, why) = served(&app, t).await;
            assert_eq!(v, "2.0.0");
            assert!(why.contains("current fleet version"), "{why}");
        }
        // A tenant pinned to 1.x keeps 1.0.0 and is told why.
        let r = app.get("/v1/tenants/t5/composition", &admin).await;
        let version = r.json["version"].as_i64().unwrap();
        let r = app
        .put("/v1/tenants/t5/composition", &admin, &json!({"version": version, "composition": {"packs": [{"name": "rollout-demo", "version": "^1"}]}}))
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let (v, why) = served(&app, "t5").await;
        assert_eq!(v, "1.0.0");
        assert!(why.contains("`^1`"), "{why}");
    }
);

both!(
    shadow_mode_records_differences_without_enforcing,
    |app: App| async move {
        setup(&app).await;
        let admin = app.admin();
        let r = app
            .post(
                "/v1/rollouts",
                &admin,
                &json!({"pack": "rollout-demo", "to": "2.0.0", "mode": "shadow",
              "stage": {"kind": "canary", "tenants": ["t1", "t2"]}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
        let id = r.json["id"].as_str().unwrap().to_owned();
        // Enforced: 1.0.0 allows; the shadow 2.0.0 would deny.
        let d = decide(&app, "t1").await;
        assert_eq!(d["verdict"], "allow");
        assert_eq!(d["serving"][0]["version"], "1.0.0");
        assert_eq!(d["serving"][0]["shadow_version"], "2.0.0");
        let decision_id = d["decision_id"].as_str().unwrap().to_owned();
        decide(&app, "t2").await;
        decide(&app, "t5").await; // not in the cohort: no shadow
        // A request both versions agree on is not a difference.
        let r = app
            .post(
                "/v1/tenants/t1/evaluate",
                &app.token("t1", &[Role::Runtime]),
                &payment("t1", "small", 1_000),
            )
            .await;
        assert_eq!(r.json["verdict"], "allow");
        // Differences are written off the request path; wait for them.
        let mut diffs = Value::Null;
        for _ in 0..100 {
            diffs = app
                .get(&format!("/v1/rollouts/{id}/shadow"), &admin)
                .await
                .json;
            if diffs["total"] == 2 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(diffs["total"], 2, "{diffs}");
        let items = diffs["items"].as_array().unwrap();
        let t1 = items.iter().find(|i| i["tenant"] == "t1").unwrap();
        assert_eq!(t1["enforced"], "allow");
        assert_eq!(t1["shadow"], "deny");
        assert_eq!(t1["decision_id"], decision_id.as_str());
        assert_eq!(
            t1["detail"]["shadow"]["explanation"]["packs"][0]["version"],
            "2.0.0"
        );
        let only_t2 = app
            .get(&format!("/v1/rollouts/{id}/shadow?tenant=t2"), &admin)
            .await;
        assert_eq!(only_t2.json["total"], 1);
        // Switching to enforce makes the cohort decide with 2.0.0.
        let r = app
            .post(
                &format!("/v1/rollouts/{id}/mode"),
                &admin,
                &json!({"mode": "enforce"}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(decide(&app, "t1").await["verdict"], "deny");
    }
);
