//! Bad input, continued: tenant ids, batches, request validation, query
//! parameters, unknown routes and methods. Each gets a clear 4xx and stores nothing.

use crate::bad_input::*;
use crate::harness::*;
use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use warden_server::auth::Role;
use warden_testkit::both;

both!(tenant_ids_are_validated_and_unique, |app: App| async move {
    let admin = app.admin();
    let before = snapshot(&app).await;
    let long = "a".repeat(64);
    for id in [
        "Bad_ID",
        "",
        "-acme",
        "acme_corp",
        "ACME",
        "a/b",
        "a b",
        "acme ",
        "äcme",
        "../etc",
        long.as_str(),
    ] {
        let r = app.post("/v1/tenants", &admin, &json!({"id": id})).await;
        problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "unprocessable");
        names(&r, &["tenant id"]);
    }
    unchanged(&before, &snapshot(&app).await);
    // The bounds themselves are fine.
    for id in ["a".repeat(63), "0".to_owned(), "acme-2".to_owned()] {
        let r = app.post("/v1/tenants", &admin, &json!({"id": id})).await;
        assert_eq!(r.status, StatusCode::CREATED, "{id}: {:?}", r.json);
    }

    let r = app
        .post(
            "/v1/tenants",
            &admin,
            &json!({"id": "acme", "display_name": "First"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let key = r.json["public_key"].clone();
    let before = snapshot(&app).await;
    let r = app
        .post(
            "/v1/tenants",
            &admin,
            &json!({"id": "acme", "display_name": "Second"}),
        )
        .await;
    problem(&r, StatusCode::CONFLICT, "conflict");
    names(&r, &["`acme`"]);
    unchanged(&before, &snapshot(&app).await);
    // The original keeps its name and, above all, its key pair.
    let r = app.get("/v1/tenants/acme", &admin).await;
    assert_eq!(r.json["display_name"], "First");
    assert_eq!(r.json["public_key"], key);
});

both!(batches_hold_1_to_1000_requests, |app: App| async move {
    app.tenant_with("acme", &["treasury"], json!({})).await;
    let rt = app.token("acme", &[Role::Runtime]);
    let path = "/v1/tenants/acme/evaluate/batch";
    let r = app.post(path, &rt, &json!({"requests": []})).await;
    problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "unprocessable");
    names(&r, &["1000", "0"]);
    let many: Vec<Value> = (0..1001)
        .map(|i| payment("acme", &format!("r-{i}"), 100))
        .collect();
    let r = app.post(path, &rt, &json!({"requests": many})).await;
    problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "unprocessable");
    names(&r, &["1001"]);
    let r = app
        .post(path, &rt, &json!({"requests": many[..1000]}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let results = r.json["results"].as_array().unwrap();
    assert_eq!(results.len(), 1000);
    assert!(results.iter().all(|x| x["decision_id"].is_string()));
    let r = app
        .post(path, &rt, &json!({"requests": {"id": "r-1"}}))
        .await;
    problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
    names(&r, &["requests"]);
});

both!(lower_case_currency_is_422, |app: App| async move {
    app.tenant_with("acme", &["treasury"], json!({})).await;
    let rt = app.token("acme", &[Role::Runtime]);
    for cur in ["eur", "EURO", "EU", "EU R", ""] {
        let mut p = payment("acme", "r-1", 100);
        p["action"]["amount"]["currency"] = json!(cur);
        let r = app.post("/v1/tenants/acme/evaluate", &rt, &p).await;
        problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "unprocessable");
        let quoted = format!("`{cur}`");
        names(&r, &["action.amount.currency", quoted.as_str()]);
        // In a batch, the bad request gets the same problem in its place.
        let r = app
            .post(
                "/v1/tenants/acme/evaluate/batch",
                &rt,
                &json!({"requests": [payment("acme", "r-0", 100), p]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert!(r.json["results"][0]["decision_id"].is_string());
        let e = &r.json["results"][1]["error"];
        assert_eq!(e["type"], "urn:warden:problem:unprocessable", "{e:?}");
        assert!(
            e["detail"]
                .as_str()
                .unwrap()
                .contains("action.amount.currency")
        );
    }
});

both!(bad_query_parameters_are_400, |app: App| async move {
    app.tenant_with("acme", &["treasury"], json!({})).await;
    let admin = app.admin();
    for path in [
        "/v1/tenants?limit=0",
        "/v1/tenants?limit=501",
        "/v1/tenants?limit=abc",
        "/v1/tenants?limit=-1",
        "/v1/tenants?limit=1.5",
        "/v1/tenants?bogus=1",
        "/v1/packs?limit=0",
        "/v1/packs?limit=abc",
        "/v1/tenants/acme/packs?limit=0",
        "/v1/rollouts?limit=abc",
        "/v1/packs/treasury/diff",
        "/v1/packs/treasury/diff?from=1.0.0",
    ] {
        let r = app.get(path, &admin).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {:?}", r.json);
        assert_eq!(r.problem(), "invalid-parameter", "{path}: {:?}", r.json);
    }
    let r = app.get("/v1/tenants?limit=0", &admin).await;
    names(&r, &["`limit`", "`0`"]);
    let r = app.get("/v1/tenants?limit=abc", &admin).await;
    names(&r, &["limit"]);
    let r = app.get("/v1/tenants?bogus=1", &admin).await;
    names(&r, &["bogus"]);
    // The bounds are accepted.
    for path in ["/v1/tenants?limit=1", "/v1/tenants?limit=500"] {
        assert_eq!(app.get(path, &admin).await.status, StatusCode::OK, "{path}");
    }
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_routes_are_404_problems() {
    let app = App::new(Backend::Sqlite).await;
    app.tenant_with("acme", &["treasury"], json!({})).await;
    let admin = app.admin();
    for path in [
        "/v1/nope",
        "/v2/tenants",
        "/v1/tenants/acme/nope",
        "/",
        "/v1/tenants/acme/composition/extra",
    ] {
        for token in [Some(admin.as_str()), None] {
            let r = app
                .call(Method::GET, path, token, None, Vec::new(), &[])
                .await;
            problem(&r, StatusCode::NOT_FOUND, "not-found");
        }
    }
    let r = raw(
        &app,
        Method::POST,
        "/v1/nope",
        Some("application/json"),
        b"{}",
    )
    .await;
    problem(&r, StatusCode::NOT_FOUND, "not-found");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_the_packs_of_an_unknown_tenant_is_404() {
    let app = App::new(Backend::Sqlite).await;
    let r = app.get("/v1/tenants/nope/packs", &app.admin()).await;
    problem(&r, StatusCode::NOT_FOUND, "not-found");
    names(&r, &["`nope`"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_method_is_a_405_problem() {
    let app = App::new(Backend::Sqlite).await;
    app.tenant_with("acme", &["treasury"], json!({})).await;
    let before = snapshot(&app).await;
    let r = raw(&app, Method::DELETE, "/v1/tenants/acme", None, b"").await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert!(r.headers.get(header::ALLOW).is_some());
    assert!(
        r.problem() != "",
        "405 without a problem body: {:?}",
        String::from_utf8_lossy(&r.bytes)
    );
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/problem+json");
    unchanged(&before, &snapshot(&app).await);
}

both!(
    a_request_for_another_tenant_is_denied,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({})).await;
        app.tenant_with("beta", &["treasury"], json!({})).await;
        // acme's runtime naming beta in the body does not get a decision as if
        // it were beta's: the request is denied, fail-closed.
        let rt = app.token("acme", &[Role::Runtime]);
        let r = app
            .post(
                "/v1/tenants/acme/evaluate",
                &rt,
                &payment("beta", "r-1", 100),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["verdict"], "deny", "{:?}", r.json);
        assert!(
            r.json["reason"]
                .as_str()
                .unwrap()
                .contains("tenant-mismatch"),
            "{:?}",
            r.json
        );
        assert_eq!(r.json["explanation"]["findings"][0]["fail_closed"], true);
    }
);
