//! A rollout never breaks a tenant: tenants the stage reaches that cannot
//! build their composition with the new version (here: their layer
//! configures a rule the new version drops) stay on the old version, listed
//! in the rollout with the reason, while the others move; or the step is
//! refused when the operator asks. A composition that cannot be built at
//! decision time keeps the tenant on its last good one.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{Value, json};
use warden_server::auth::Role;
use warden_testkit::both;
use warden_testkit::pack_bytes;

const TENANTS: [&str; 6] = ["t0", "t1", "t2", "t3", "t4", "t5"];
/// Their layer sets a parameter of `payment-cap`, which 3.0.0 drops.
const LAYERED: [&str; 2] = ["t2", "t5"];

async fn setup(app: &App) {
    let admin = app.admin();
    for v in ["rollout-v1", "rollout-v3"] {
        let r = app.upload("/v1/packs", &admin, pack_bytes(v), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    }
    for t in TENANTS {
        let extra = if LAYERED.contains(&t) {
            json!({"layers": [{"name": "tenant", "packs": {"rollout-demo":
                {"payment-cap": {"params": {"cap": 200000}}}}}]})
        } else {
            json!({})
        };
        app.tenant_with(t, &["rollout-demo"], extra).await;
    }
}

/// The version that served a decision for `tenant` (every decision works).
async fn served(app: &App, tenant: &str) -> (String, String) {
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/evaluate"),
            &app.token(tenant, &[Role::Runtime]),
            &payment(tenant, "r", 1_000),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{tenant}: {:?}", r.json);
    let s = &r.json["serving"][0];
    (
        s["version"].as_str().unwrap().to_owned(),
        s["reason"].as_str().unwrap_or("").to_owned(),
    )
}

async fn check_stage(app: &App, rollout: &Value, reached: &[&str]) {
    let held = rollout["held"].as_object().cloned().unwrap_or_default();
    for t in TENANTS {
        let (v, why) = served(app, t).await;
        let in_stage = reached.contains(&t);
        if in_stage && LAYERED.contains(&t) {
            assert_eq!(v, "1.0.0", "{t} must be held: {why}");
            assert!(why.contains("holds tenant"), "{why}");
            let reason = held[t].as_str().unwrap();
            assert!(reason.contains("payment-cap"), "{reason}");
        } else if in_stage {
            assert_eq!(v, "3.0.0", "{t}: {why}");
            assert!(!held.contains_key(t));
        } else {
            assert_eq!(v, "1.0.0", "{t}: {why}");
        }
    }
}

/// The tenant's operator edits its composition document.
async fn edit(app: &App, tenant: &str, change: impl FnOnce(&mut Value)) {
    let op = app.token(tenant, &[Role::Operator]);
    let path = format!("/v1/tenants/{tenant}/composition");
    let cur = app.get(&path, &op).await;
    let mut doc = cur.json["composition"].clone();
    change(&mut doc);
    let body = json!({"version": cur.json["version"], "composition": doc});
    let r = app.put(&path, &op, &body).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
}

async fn start(app: &App, body: Value) -> Value {
    let r = app.post("/v1/rollouts", &app.admin(), &body).await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    r.json
}

both!(
    rollouts_hold_tenants_that_cannot_build_the_new_version,
    |app: App| async move {
        setup(&app).await;
        let admin = app.admin();
        // Canary naming a compatible and an incompatible tenant.
        let r = start(
            &app,
            json!({"pack": "rollout-demo", "to": "3.0.0",
               "stage": {"kind": "canary", "tenants": ["t1", "t2"]}}),
        )
        .await;
        let id = r["id"].as_str().unwrap().to_owned();
        assert_eq!(r["held"].as_object().unwrap().len(), 1, "{r}");
        check_stage(&app, &r, &["t1", "t2"]).await;
        // A percentage: every tenant whose bucket is under it moves, but t2.
        let r = app
            .post(
                &format!("/v1/rollouts/{id}/advance"),
                &admin,
                &json!({"stage": {"kind": "percentage", "percent": 50}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let reached: Vec<&str> = TENANTS
            .iter()
            .copied()
            .filter(|t| {
                let why = r.json["held"].get(*t).is_some() || *t == "t1" || *t == "t2";
                why || {
                    // In the cohort by bucket: ask the rollout itself.
                    let ro: warden_host::rollout::Rollout =
                        serde_json::from_value(r.json.clone()).unwrap();
                    ro.in_cohort(t)
                }
            })
            .collect();
        check_stage(&app, &r.json, &reached).await;
        // Full: everyone moves but the two layered tenants.
        let r = app
            .post(
                &format!("/v1/rollouts/{id}/advance"),
                &admin,
                &json!({"stage": {"kind": "full"}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let held: Vec<&String> = r.json["held"].as_object().unwrap().keys().collect();
        assert_eq!(held, ["t2", "t5"]);
        check_stage(&app, &r.json, &TENANTS).await;
        // Completing would move them onto 3.0.0: refused, naming them.
        let r = app
            .post(&format!("/v1/rollouts/{id}/complete"), &admin, &json!({}))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
        assert!(
            r.detail().contains("t2") && r.detail().contains("t5"),
            "{:?}",
            r.json
        );
        // t2 pins the old version: completing checks again, t5 alone is held.
        edit(&app, "t2", |doc| {
            doc["packs"][0]["version"] = json!("=1.0.0")
        })
        .await;
        let r = app
            .post(&format!("/v1/rollouts/{id}/complete"), &admin, &json!({}))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
        assert!(
            r.detail().contains("`t5`") && !r.detail().contains("t2"),
            "{:?}",
            r.json
        );
        // t5 drops its layer: the rollout completes, and everyone builds.
        edit(&app, "t5", |doc| doc["layers"] = json!([])).await;
        let r = app
            .post(&format!("/v1/rollouts/{id}/complete"), &admin, &json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(served(&app, "t5").await.0, "3.0.0");
        assert_eq!(served(&app, "t2").await.0, "1.0.0");
    }
);

both!(a_step_can_be_refused_instead, |app: App| async move {
    setup(&app).await;
    let admin = app.admin();
    let r = app
        .post(
            "/v1/rollouts",
            &admin,
            &json!({"pack": "rollout-demo", "to": "3.0.0", "stage": {"kind": "full"},
                    "on_incompatible": "refuse"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
    assert_eq!(
        r.json["incompatible"].as_object().unwrap().len(),
        2,
        "{:?}",
        r.json
    );
    assert!(r.detail().contains("t2") && r.detail().contains("t5"));
    // Nothing changed: no rollout, everyone on 1.0.0.
    let r = app.get("/v1/rollouts", &admin).await;
    assert_eq!(r.json["items"], json!([]));
    check_stage(&app, &json!({}), &[]).await;
    // Shadow mode then enforce: the switch is checked like a step.
    let r = start(
        &app,
        json!({"pack": "rollout-demo", "to": "3.0.0", "stage": {"kind": "full"}, "mode": "shadow"}),
    )
    .await;
    let id = r["id"].as_str().unwrap().to_owned();
    for t in TENANTS {
        assert_eq!(served(&app, t).await.0, "1.0.0");
    }
    let r = app
        .post(
            &format!("/v1/rollouts/{id}/mode"),
            &admin,
            &json!({"mode": "enforce", "on_incompatible": "refuse"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
    let r = app
        .post(
            &format!("/v1/rollouts/{id}/mode"),
            &admin,
            &json!({"mode": "enforce"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    check_stage(&app, &r.json, &TENANTS).await;
});

both!(
    a_tenant_keeps_its_last_good_composition,
    |app: App| async move {
        setup(&app).await;
        // t2 is served 1.0.0 with its layer; then the fleet's current version
        // moves under it by hand (as a database edit, or a server of another
        // version, might), which its layer cannot build with.
        assert_eq!(served(&app, "t2").await.0, "1.0.0");
        let store = app.state.store();
        sqlx::query("UPDATE pack_current SET version = '3.0.0' WHERE name = 'rollout-demo'")
            .execute(store.pool())
            .await
            .unwrap();
        sqlx::query("UPDATE generation SET value = value + 1 WHERE id = 1")
            .execute(store.pool())
            .await
            .unwrap();
        app.state.refresh().await.unwrap();
        let (v, _) = served(&app, "t2").await;
        assert_eq!(v, "1.0.0");
        let op = app.token("t2", &[Role::Operator]);
        let c = app.get("/v1/tenants/t2/composition", &op).await;
        assert!(
            c.json["serving_error"]
                .as_str()
                .unwrap()
                .contains("payment-cap"),
            "{:?}",
            c.json
        );
        let rows = store.trace_rows("t2", 0, 10_000).await.unwrap();
        assert_eq!(
            rows.iter()
                .filter(|r| r.kind == "composition-failed")
                .count(),
            1
        );
        // t0 (no layer) moves on.
        assert_eq!(served(&app, "t0").await.0, "3.0.0");
    }
);
