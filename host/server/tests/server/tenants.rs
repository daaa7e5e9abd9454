//! Tenants: lifecycle, keys encrypted at rest, isolation.

use crate::harness::*;
use axum::http::StatusCode;
use base64::Engine as _;
use serde_json::json;
use sqlx::Row;
use warden_server::auth::Role;
use warden_testkit::both;

both!(tenant_lifecycle, |app: App| async move {
    let admin = app.admin();
    let r = app
        .post(
            "/v1/tenants",
            &admin,
            &json!({"id": "acme", "display_name": "ACME Corp"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["display_name"], "ACME Corp");
    assert_eq!(r.json["composition_version"], 0);
    assert_eq!(r.json["disabled"], false);
    let key = base64::engine::general_purpose::STANDARD
        .decode(r.json["public_key"].as_str().unwrap())
        .unwrap();
    assert_eq!(key.len(), 32);

    // Read by fleet admin and by the tenant's own auditor.
    let r = app
        .get("/v1/tenants/acme", &app.token("acme", &[Role::Auditor]))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["id"], "acme");

    // Update and disable.
    let r = app
        .patch(
            "/v1/tenants/acme",
            &admin,
            &json!({"display_name": "ACME", "settings": {"budgets": {"daily": "100 EUR"}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["display_name"], "ACME");
    assert_eq!(r.json["settings"]["budgets"]["daily"], "100 EUR");
    // Reserved sections are objects; approval routing has its own document.
    for (settings, field) in [
        (json!({"budgets": [1]}), "settings.budgets"),
        (json!({"grants": "all"}), "settings.grants"),
        (json!({"approval_routing": {}}), "settings.approval_routing"),
    ] {
        let r = app
            .patch("/v1/tenants/acme", &admin, &json!({ "settings": settings }))
            .await;
        assert!(r.status.is_client_error(), "{settings}: {:?}", r.json);
        assert!(
            r.json["field"] == field || r.detail().contains(field.trim_start_matches("settings.")),
            "{settings}: {:?}",
            r.json
        );
    }
    let r = app
        .patch("/v1/tenants/acme", &admin, &json!({"disabled": true}))
        .await;
    assert_eq!(r.json["disabled"], true);
    // Name survives an update that does not mention it.
    assert_eq!(r.json["display_name"], "ACME");

    // List, paginated.
    for id in ["beta", "gamma"] {
        app.post("/v1/tenants", &admin, &json!({"id": id})).await;
    }
    let r = app.get("/v1/tenants?limit=2", &admin).await;
    let ids: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["acme", "beta"]);
    let cursor = r.json["next_cursor"].as_str().unwrap().to_owned();
    let r = app
        .get(&format!("/v1/tenants?limit=2&cursor={cursor}"), &admin)
        .await;
    let ids: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["gamma"]);
    assert!(r.json["next_cursor"].is_null());
});

both!(secret_keys_are_encrypted_at_rest, |app: App| async move {
    let admin = app.admin();
    app.post("/v1/tenants", &admin, &json!({"id": "acme"}))
        .await;
    let r = app.get("/v1/tenants/acme/public-key", &admin).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["algorithm"], "Ed25519");
    assert!(
        r.json["pem"]
            .as_str()
            .unwrap()
            .starts_with("-----BEGIN PUBLIC KEY-----")
    );
    let row = sqlx::query("SELECT public_key, secret_key FROM tenants WHERE id = 'acme'")
        .fetch_one(app.state.store().pool())
        .await
        .unwrap();
    let public: Vec<u8> = row.try_get(0).unwrap();
    let sealed: Vec<u8> = row.try_get(1).unwrap();
    // Nonce + 32-byte key + tag: not the raw key.
    assert_eq!(sealed.len(), 12 + 32 + 16);
    let secret = app.state.master_key().open("acme", &sealed).unwrap();
    let key = ed25519_dalek::SigningKey::from_bytes(&secret.try_into().unwrap());
    assert_eq!(key.verifying_key().to_bytes().to_vec(), public);
    // Bound to the tenant: the sealed key does not open as another tenant's.
    assert!(app.state.master_key().open("beta", &sealed).is_err());
});

both!(tenants_never_see_each_other, |app: App| async move {
    app.tenant_with("acme", &["treasury"], json!({})).await;
    app.tenant_with("beta", &["treasury"], json!({})).await;
    let acme_op = app.token("acme", &[Role::Operator, Role::Auditor, Role::Runtime]);
    for path in [
        "/v1/tenants/beta",
        "/v1/tenants/beta/composition",
        "/v1/tenants/beta/packs",
        "/v1/tenants/beta/public-key",
    ] {
        let r = app.get(path, &acme_op).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
        assert!(
            !r.bytes.windows(4).any(|w| w == b"beta"),
            "{path}: {:?}",
            r.json
        );
    }
    let r = app
        .post(
            "/v1/tenants/beta/evaluate",
            &acme_op,
            &payment("beta", "r1", 100),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // A request naming another tenant in its body is denied, never evaluated for it.
    let r = app
        .post(
            "/v1/tenants/acme/evaluate",
            &acme_op,
            &payment("beta", "r1", 100),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json["verdict"], "deny");
    assert_eq!(
        r.json["explanation"]["findings"][0]["rule"],
        "warden:tenant-mismatch"
    );
});
