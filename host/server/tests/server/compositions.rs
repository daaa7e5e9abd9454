//! Compositions: whole-document edits with optimistic concurrency,
//! validation at save time, the fleet layer.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::json;
use warden_server::auth::Role;
use warden_testkit::both;

both!(composition_versions_and_conflicts, |app: App| async move {
    let admin = app.admin();
    app.post("/v1/tenants", &admin, &json!({"id": "acme"}))
        .await;
    let op = app.token("acme", &[Role::Operator]);
    let r = app.get("/v1/tenants/acme/composition", &op).await;
    assert_eq!(r.json["version"], 0);
    assert_eq!(r.json["composition"]["packs"], json!([]));
    let doc = json!({"packs": [{"name": "treasury", "version": "^1"}], "isolation": "reuse"});
    let r = app
        .put(
            "/v1/tenants/acme/composition",
            &op,
            &json!({"version": 0, "composition": doc}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["version"], 1);
    assert_eq!(r.json["serving"][0]["pack"], "treasury");
    assert!(
        r.json["serving"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("current fleet version")
    );
    // A second editor still on version 0 loses.
    let r = app
        .put(
            "/v1/tenants/acme/composition",
            &op,
            &json!({"version": 0, "composition": doc}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    assert_eq!(r.problem(), "version-conflict");
    assert_eq!(r.json["current_version"], 1);
    let r = app
        .get(
            "/v1/tenants/acme/composition",
            &app.token("acme", &[Role::Auditor]),
        )
        .await;
    assert_eq!(r.json["version"], 1);
    assert_eq!(r.json["composition"]["isolation"], "reuse");
});

both!(
    validation_names_pack_rule_layer_and_field,
    |app: App| async move {
        let admin = app.admin();
        app.post("/v1/tenants", &admin, &json!({"id": "acme"}))
            .await;
        let put = |doc: serde_json::Value| {
            let app = &app;
            let admin = admin.clone();
            async move {
                app.put(
                    "/v1/tenants/acme/composition",
                    &admin,
                    &json!({"version": 0, "composition": doc}),
                )
                .await
            }
        };
        let r = put(json!({"packs": [{"name": "treasury", "version": "^7"}]})).await;
        assert_eq!(r.problem(), "invalid-composition");
        assert!(
            r.detail().contains("`treasury`") && r.detail().contains("`^7`"),
            "{}",
            r.detail()
        );
        let r = put(json!({"packs": [{"name": "treasury", "version": "not semver"}]})).await;
        assert!(r.detail().contains("not valid semver"), "{}", r.detail());
        let r = put(json!({"packs": [{"name": "treasury"}], "layers": [
        {"name": "tenant", "packs": {"treasury": {"no-such-rule": {"enabled": true}}}}]}))
        .await;
        assert_eq!(r.problem(), "invalid-composition");
        assert!(
            r.detail().contains("`no-such-rule`") && r.detail().contains("`tenant`"),
            "{}",
            r.detail()
        );
        let r = put(json!({"packs": [{"name": "treasury"}], "layers": [
        {"name": "tenant", "packs": {"treasury": {"amount-limit": {"params": {"max": 5}}}}}]}))
        .await;
        assert_eq!(r.problem(), "invalid-composition");
        assert!(
            r.detail().contains("`amount-limit`") && r.detail().contains("max"),
            "{}",
            r.detail()
        );
        let r = put(json!({"packs": [{"name": "treasury"}], "layers": [
        {"name": "strict", "restrict_only": true,
         "packs": {"treasury": {"amount-limit": {"enabled": false}}}}]}))
        .await;
        assert!(
            r.detail().contains("restrict-only layer `strict`"),
            "{}",
            r.detail()
        );
        let r = put(json!({"packs": [{"name": "treasury"}], "layers": [{"name": "fleet"}]})).await;
        assert!(r.detail().contains("`fleet` is reserved"), "{}", r.detail());
        // Nothing was saved.
        let r = app.get("/v1/tenants/acme/composition", &admin).await;
        assert_eq!(r.json["version"], 0);
    }
);

both!(
    fleet_layer_applies_to_every_tenant_using_the_pack,
    |app: App| async move {
        let admin = app.admin();
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        app.tenant_with("beta", &["pii-strict"], json!({})).await;
        let runtime = app.token("acme", &[Role::Runtime]);
        // 50.00 EUR is allowed by default.
        let r = app
            .post(
                "/v1/tenants/acme/evaluate",
                &runtime,
                &payment("acme", "r1", 5_000),
            )
            .await;
        assert_ne!(r.json["verdict"], "deny", "{:?}", r.json);
        let r = app.get("/v1/fleet/layer", &admin).await;
        assert_eq!(r.json["version"], 0);
        let layer = json!({"version": 0, "layer": {"name": "fleet", "packs": {
        "treasury": {"amount-limit": {"params": {"max": ["10.00 EUR"]}}}}}});
        let r = app.put("/v1/fleet/layer", &admin, &layer).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["version"], 1);
        let r = app
            .post(
                "/v1/tenants/acme/evaluate?explain=full",
                &runtime,
                &payment("acme", "r2", 5_000),
            )
            .await;
        assert_eq!(r.json["verdict"], "deny", "{:?}", r.json);
        let settings = &r.json["explanation"]["packs"][0]["settings"];
        let amount = settings
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["rule"] == "amount-limit")
            .unwrap();
        assert_eq!(amount["param_sources"]["max"], "fleet");
        // beta does not use treasury: unaffected, still evaluates.
        let r = app
            .post(
                "/v1/tenants/beta/evaluate",
                &app.token("beta", &[Role::Runtime]),
                &payment("beta", "r3", 5_000),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        // Stale edit and invalid layer are rejected.
        assert_eq!(
            app.put("/v1/fleet/layer", &admin, &layer).await.problem(),
            "version-conflict"
        );
        let bad = json!({"version": 1, "layer": {"name": "fleet", "packs": {"treasury": {"nope": {"enabled": true}}}}});
        let r = app.put("/v1/fleet/layer", &admin, &bad).await;
        assert_eq!(r.problem(), "invalid-composition");
        assert!(r.detail().contains("`nope`"));
        // Only fleet admins edit it.
        let r = app
            .put(
                "/v1/fleet/layer",
                &app.token("acme", &[Role::Operator]),
                &layer,
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
    }
);
