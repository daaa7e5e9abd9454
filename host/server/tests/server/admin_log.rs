//! Configuration changes and the admin events that record them commit
//! together (ADR 0013): a change whose event cannot be appended is not made.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::json;
use warden_server::auth::Role;
use warden_testkit::both;
use warden_testkit::pack_bytes;

/// The kinds of `log`'s events, in order.
async fn kinds(app: &App, log: &str) -> Vec<String> {
    let rows = app.state.store().trace_rows(log, 0, 1000).await.unwrap();
    rows.into_iter().map(|r| r.kind).collect()
}

/// Replaces `log`'s stored head with text that is not a hash (so the next
/// append under the lock fails) and returns what was there.
async fn break_head(app: &App, log: &str) -> String {
    let pool = app.state.store().pool();
    let head: String = sqlx::query_scalar("SELECT head FROM trace_heads WHERE tenant = $1")
        .bind(log)
        .fetch_one(pool)
        .await
        .unwrap();
    sqlx::query("UPDATE trace_heads SET head = 'not-a-hash' WHERE tenant = $1")
        .bind(log)
        .execute(pool)
        .await
        .unwrap();
    head
}

async fn restore_head(app: &App, log: &str, head: &str) {
    sqlx::query("UPDATE trace_heads SET head = $1 WHERE tenant = $2")
        .bind(head)
        .bind(log)
        .execute(app.state.store().pool())
        .await
        .unwrap();
}

/// `PUT /v1/tenants/acme/composition` over `version`.
async fn put_composition(app: &App, token: &str, version: i64, doc: &serde_json::Value) -> Resp {
    app.put(
        "/v1/tenants/acme/composition",
        token,
        &json!({"version": version, "composition": doc}),
    )
    .await
}

/// `log` verifies and ends at `last_seq`.
async fn assert_chain_whole(app: &App, log: &str, last_seq: u64) {
    let report = app.state.store().trace_verify(log).await.unwrap();
    assert_eq!(report.fault, None, "{log}");
    assert_eq!(report.last_seq, last_seq, "{log}");
}

fn assert_not_made(r: &Resp, log: &str) {
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.json);
    assert_eq!(r.problem(), "unavailable");
    assert!(
        r.detail().starts_with("the change was not made")
            && r.detail().contains(&format!("`{log}`")),
        "{}",
        r.detail()
    );
}

both!(
    tenant_changes_that_cannot_be_recorded_are_not_made,
    |app: App| async move {
        let admin = app.admin();
        let r = app
            .post("/v1/tenants", &admin, &json!({"id": "acme"}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
        let doc = json!({"packs": [{"name": "treasury"}], "default_effect": "allow"});
        let r = put_composition(&app, &admin, 0, &doc).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(
            kinds(&app, "acme").await,
            ["tenant-created", "composition-changed"]
        );

        let head = break_head(&app, "acme").await;
        let wider = json!({"packs": [{"name": "treasury"}, {"name": "pii-strict"}],
                           "default_effect": "allow"});
        let r = put_composition(&app, &admin, 1, &wider).await;
        assert_not_made(&r, "acme");
        let r = app
            .patch(
                "/v1/tenants/acme",
                &admin,
                &json!({"display_name": "Acme Corp", "disabled": true}),
            )
            .await;
        assert_not_made(&r, "acme");
        // Neither change was made.
        let auditor = app.token("acme", &[Role::Auditor]);
        let r = app.get("/v1/tenants/acme/composition", &auditor).await;
        assert_eq!(r.json["version"], 1);
        assert_eq!(r.json["composition"]["packs"].as_array().unwrap().len(), 1);
        let r = app.get("/v1/tenants/acme", &auditor).await;
        assert_eq!(r.json["disabled"], false, "{:?}", r.json);
        assert_eq!(r.json["display_name"], "acme", "{:?}", r.json);

        // Once the log can be written again, the same change goes through,
        // with its event, and the chain holds.
        restore_head(&app, "acme", &head).await;
        let r = put_composition(&app, &admin, 1, &wider).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["version"], 2);
        assert_eq!(
            kinds(&app, "acme").await,
            [
                "tenant-created",
                "composition-changed",
                "composition-changed"
            ]
        );
        let rows = app.state.store().trace_rows("acme", 0, 10).await.unwrap();
        let last: serde_json::Value = serde_json::from_str(&rows[2].event).unwrap();
        assert_eq!(last["body"]["detail"]["version"], 2);
        assert_eq!(
            last["body"]["detail"]["composition"]["packs"][1]["name"],
            "pii-strict"
        );
        assert_chain_whole(&app, "acme", 3).await;
    }
);

both!(
    fleet_changes_that_cannot_be_recorded_are_not_made,
    |app: App| async move {
        let admin = app.admin();
        // The built-in packs' uploads are in the fleet log from the start.
        let before = kinds(&app, "_fleet").await;
        assert_eq!(before, ["pack-uploaded"; 3]);
        let head = break_head(&app, "_fleet").await;

        let layer = json!({"version": 0, "layer": {"name": "fleet", "packs": {
            "treasury": {"amount-limit": {"params": {"max": ["10.00 EUR"]}}}}}});
        assert_not_made(&app.put("/v1/fleet/layer", &admin, &layer).await, "_fleet");
        assert_eq!(app.get("/v1/fleet/layer", &admin).await.json["version"], 0);

        let v1 = pack_bytes("rollout-v1");
        let r = app.upload("/v1/packs", &admin, v1.clone(), None).await;
        assert_not_made(&r, "_fleet");
        let r = app.get("/v1/packs/rollout-demo", &admin).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.json);

        restore_head(&app, "_fleet", &head).await;
        let r = app.upload("/v1/packs", &admin, v1, None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
        let r = app.put("/v1/fleet/layer", &admin, &layer).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let after = kinds(&app, "_fleet").await;
        assert_eq!(after[3..], ["pack-uploaded", "fleet-layer-changed"]);
        assert_chain_whole(&app, "_fleet", 5).await;
    }
);

both!(
    the_seeded_demo_tenant_has_its_changes_in_its_log,
    |app: App| async move {
        // Hold the whole app (data directory, database): the block would
        // otherwise capture only the field it uses and drop the rest.
        let app = app;
        // What `warden serve --seed-demo` does, through the same function.
        let packs = ["treasury".to_owned()];
        warden_server::seed_tenant(&app.state, "demo", &packs, warden_host::Isolation::Reuse)
            .await
            .unwrap();
        let rows = app.state.store().trace_rows("demo", 0, 10).await.unwrap();
        let events: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| serde_json::from_str(&r.event).unwrap())
            .collect();
        let kinds: Vec<&str> = events.iter().map(|e| e["kind"].as_str().unwrap()).collect();
        assert_eq!(kinds, ["tenant-created", "composition-changed"]);
        assert!(events.iter().all(|e| e["body"]["actor"] == "warden"));
        assert_eq!(events[1]["body"]["detail"]["version"], 1);
        assert_eq!(
            events[1]["body"]["detail"]["composition"]["packs"][0]["name"],
            "treasury"
        );
        // Seeding again changes nothing and records nothing.
        warden_server::seed_tenant(&app.state, "demo", &packs, warden_host::Isolation::Reuse)
            .await
            .unwrap();
        assert_eq!(
            app.state
                .store()
                .trace_rows("demo", 0, 10)
                .await
                .unwrap()
                .len(),
            2
        );
    }
);
