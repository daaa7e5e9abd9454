//! The OpenAPI document: served, complete, and identical to the committed copy.

use crate::harness::*;
use axum::http::{Method, StatusCode};
use serde_json::Value;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_document_is_served_and_in_sync() {
    let app = App::new(Backend::Sqlite).await;
    let r = app
        .call(Method::GET, "/openapi.json", None, None, Vec::new(), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.json["openapi"].as_str().unwrap().starts_with("3."));
    let paths = r.json["paths"].as_object().unwrap();
    for p in [
        "/v1/tenants",
        "/v1/tenants/{tenant}/evaluate",
        "/v1/packs",
        "/v1/rollouts/{id}/shadow",
        "/healthz",
    ] {
        assert!(paths.contains_key(p), "{p} missing");
    }
    // Every operation but health requires the bearer scheme.
    for (path, ops) in paths {
        for (method, op) in ops.as_object().unwrap() {
            let secured = op.get("security").is_some();
            assert_eq!(secured, !path.ends_with("z"), "{method} {path}");
        }
    }
    assert_eq!(
        r.json["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    // The committed document (docs/openapi.json) is what the code generates,
    // its keys sorted: the order of a generated map depends on serde_json's
    // `preserve_order`, which another crate in the same build may switch on.
    let generated = serde_json::to_value(warden_server::openapi()).unwrap();
    let generated = serde_json::to_string_pretty(&sorted(generated)).unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/openapi.json");
    if std::env::var_os("WARDEN_UPDATE_OPENAPI").is_some() {
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/openapi.json is out of date: run `WARDEN_UPDATE_OPENAPI=1 cargo test -p warden-server --test server openapi`"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_readiness() {
    let app = App::new(Backend::Sqlite).await;
    let r = app
        .call(Method::GET, "/healthz", None, None, Vec::new(), &[])
        .await;
    assert_eq!(r.json["status"], "ok");
    let r = app
        .call(Method::GET, "/readyz", None, None, Vec::new(), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    app.state.store().close().await;
    let r = app
        .call(Method::GET, "/readyz", None, None, Vec::new(), &[])
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(r.problem(), "unavailable");
}

/// `v` with every object's keys in sorted order, whatever the map type.
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(m) => {
            let m: std::collections::BTreeMap<String, Value> =
                m.into_iter().map(|(k, v)| (k, sorted(v))).collect();
            Value::Object(m.into_iter().collect())
        }
        Value::Array(a) => Value::Array(a.into_iter().map(sorted).collect()),
        v => v,
    }
}
