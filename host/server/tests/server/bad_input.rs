//! Hostile and malformed input: each gets a clear 4xx problem, and the
//! store is left exactly as it was.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::harness::*;
use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use warden_server::auth::Role;
use warden_testkit::both;
use warden_testkit::pack_bytes;

pub(crate) const MIB: usize = 1024 * 1024;

/// Sends raw bytes with a content type (or none) as the fleet admin.
pub(crate) async fn raw(
    app: &App,
    method: Method,
    path: &str,
    ct: Option<&str>,
    body: &[u8],
) -> Resp {
    app.call(method, path, Some(&app.admin()), ct, body.to_vec(), &[])
        .await
}

/// Asserts a problem of `slug` with `status`, served as problem JSON.
#[track_caller]
pub(crate) fn problem(r: &Resp, status: StatusCode, slug: &str) {
    assert_eq!(r.status, status, "{:?}", r.json);
    assert_eq!(r.problem(), slug, "{:?}", r.json);
    assert_eq!(r.json["status"], status.as_u16(), "{:?}", r.json);
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{:?}",
        r.json
    );
    assert!(!r.detail().is_empty(), "{:?}", r.json);
}

/// Asserts the detail mentions each of `words`.
#[track_caller]
pub(crate) fn names(r: &Resp, words: &[&str]) {
    for w in words {
        assert!(
            r.detail().contains(w),
            "detail does not mention {w}: {:?}",
            r.detail()
        );
    }
}

/// What the store shows: tenants, every tenant's composition and private
/// packs, the fleet catalog, the fleet layer and the rollouts.
pub(crate) async fn snapshot(app: &App) -> Value {
    let admin = app.admin();
    let get = |path: String| {
        let admin = admin.clone();
        async move {
            let r = app.get(&path, &admin).await;
            assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.json);
            r.json
        }
    };
    let tenants = get("/v1/tenants?limit=500".to_owned()).await;
    let mut per_tenant = serde_json::Map::new();
    for t in tenants["items"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        let mut comp = get(format!("/v1/tenants/{id}/composition")).await;
        // What serves the tenant is derived, not stored.
        comp.as_object_mut().unwrap().remove("serving");
        let packs = get(format!("/v1/tenants/{id}/packs?limit=500")).await;
        per_tenant.insert(id.to_owned(), json!({"composition": comp, "packs": packs}));
    }
    json!({
        "tenants": tenants,
        "per_tenant": per_tenant,
        "fleet_packs": get("/v1/packs?limit=500".to_owned()).await,
        "fleet_layer": get("/v1/fleet/layer".to_owned()).await,
        "rollouts": get("/v1/rollouts?limit=500".to_owned()).await,
    })
}

#[track_caller]
pub(crate) fn unchanged(before: &Value, after: &Value) {
    assert_eq!(before, after, "a rejected request changed the store");
}

both!(
    malformed_json_is_400_and_stores_nothing,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({})).await;
        let before = snapshot(&app).await;
        let ct = Some("application/json");

        // Create a tenant.
        let r = raw(&app, Method::POST, "/v1/tenants", ct, br#"{"id":"#).await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        let r = raw(&app, Method::POST, "/v1/tenants", ct, br#"{"id": 5}"#).await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        names(&r, &["`id`"]);
        let r = raw(
            &app,
            Method::POST,
            "/v1/tenants",
            ct,
            br#"{"id":"x","bogus":1}"#,
        )
        .await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        names(&r, &["bogus"]);
        let r = raw(&app, Method::POST, "/v1/tenants", ct, b"").await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        let r = raw(&app, Method::POST, "/v1/tenants", ct, br#"["x"]"#).await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        // Data after the JSON value.
        for body in [
            &br#"{"id":"x"} {"id":"y"}"#[..],
            br#"{"id":"x"}garbage"#,
            br#"{"id":"x"}}"#,
        ] {
            let r = raw(&app, Method::POST, "/v1/tenants", ct, body).await;
            problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        }
        let r = raw(
            &app,
            Method::POST,
            "/v1/tenants",
            ct,
            b"{\"id\":\"\xff\xfe\"}",
        )
        .await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        let r = app
            .post(
                "/v1/tenants",
                &app.admin(),
                &json!({"id": "x", "settings": {"colour": "red"}}),
            )
            .await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        names(&r, &["colour"]);

        // Update a tenant.
        let r = raw(
            &app,
            Method::PATCH,
            "/v1/tenants/acme",
            ct,
            br#"{"disabled": "yes"}"#,
        )
        .await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        names(&r, &["`disabled`"]);
        let r = raw(
            &app,
            Method::PATCH,
            "/v1/tenants/acme",
            ct,
            br#"{"disabled": true, "bogus": 1}"#,
        )
        .await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        names(&r, &["bogus"]);

        // Save a composition.
        let path = "/v1/tenants/acme/composition";
        let r = raw(
            &app,
            Method::PUT,
            path,
            ct,
            br#"{"version": 1, "composition": {"packs": ["#,
        )
        .await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        let r = raw(
            &app,
            Method::PUT,
            path,
            ct,
            br#"{"version": "1", "composition": {}}"#,
        )
        .await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        names(&r, &["`version`"]);
        let r = app
        .put(
            path,
            &app.admin(),
            &json!({"version": 1, "composition": {"packs": [{"name": "pii-strict", "bogus": 1}]}}),
        )
        .await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        names(&r, &["bogus", "composition.packs[0]"]);
        let r = app
        .put(
            path,
            &app.admin(),
            &json!({"version": 1, "composition": {"packs": [{"name": "pii-strict"}], "default_effect": "maybe"}}),
        )
        .await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        names(&r, &["default_effect"]);

        // Ask for a decision.
        let rt = app.token("acme", &[Role::Runtime]);
        let ev = "/v1/tenants/acme/evaluate";
        let r = app
            .call(
                Method::POST,
                ev,
                Some(&rt),
                ct,
                br#"{"id": "r-1", "#.to_vec(),
                &[],
            )
            .await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        let mut p = payment("acme", "r-1", 100);
        p["action"]["amount"]["minor_units"] = json!("100");
        let r = app.post(ev, &rt, &p).await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        names(&r, &["action.amount.minor_units"]);
        let mut p = payment("acme", "r-1", 100);
        p["action"]["sudo"] = json!(true);
        let r = app.post(ev, &rt, &p).await;
        problem(&r, StatusCode::BAD_REQUEST, "invalid-json");
        names(&r, &["sudo"]);

        unchanged(&before, &snapshot(&app).await);
        // Nothing called `x` was half-created.
        let r = app.get("/v1/tenants/x", &app.admin()).await;
        problem(&r, StatusCode::NOT_FOUND, "not-found");
    }
);

both!(wrong_content_type_is_415, |app: App| async move {
    app.tenant_with("acme", &["treasury"], json!({})).await;
    let before = snapshot(&app).await;
    let body = br#"{"id": "x"}"#;
    for ct in [
        Some("text/plain"),
        None,
        Some("application/x-www-form-urlencoded"),
        Some("application/wasm"),
    ] {
        let r = raw(&app, Method::POST, "/v1/tenants", ct, body).await;
        problem(
            &r,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
        );
        names(&r, &["application/json"]);
    }
    let comp =
        json!({"version": 1, "composition": {"packs": [{"name": "pii-strict"}]}}).to_string();
    let r = raw(
        &app,
        Method::PUT,
        "/v1/tenants/acme/composition",
        Some("text/plain"),
        comp.as_bytes(),
    )
    .await;
    problem(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    );
    let r = raw(
        &app,
        Method::PATCH,
        "/v1/tenants/acme",
        Some("text/json"),
        br#"{"disabled": true}"#,
    )
    .await;
    problem(
        &r,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported-media-type",
    );
    // Pack uploads want `application/wasm`.
    let wasm = pack_bytes("rollout-v1");
    for path in ["/v1/packs", "/v1/tenants/acme/packs"] {
        for ct in [
            Some("application/json"),
            Some("application/octet-stream"),
            None,
        ] {
            let r = raw(&app, Method::POST, path, ct, &wasm).await;
            problem(
                &r,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
            );
            names(&r, &["application/wasm"]);
        }
    }
    unchanged(&before, &snapshot(&app).await);
    // Parameters on the media type are fine.
    let r = raw(
        &app,
        Method::POST,
        "/v1/tenants",
        Some("application/json; charset=utf-8"),
        body,
    )
    .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
});

both!(
    unknown_tenant_is_404_and_is_not_created,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({})).await;
        let before = snapshot(&app).await;
        let admin = app.admin();
        let comp = json!({"version": 0, "composition": {"packs": [{"name": "treasury"}]}});
        let rs = [
            app.get("/v1/tenants/nope", &admin).await,
            app.get("/v1/tenants/nope/public-key", &admin).await,
            app.get("/v1/tenants/nope/composition", &admin).await,
            app.patch("/v1/tenants/nope", &admin, &json!({"display_name": "Nope"}))
                .await,
            app.put("/v1/tenants/nope/composition", &admin, &comp).await,
            // An operator token for a tenant that does not exist cannot bring it into being.
            app.put(
                "/v1/tenants/nope/composition",
                &app.token("nope", &[Role::Operator]),
                &comp,
            )
            .await,
            app.post(
                "/v1/tenants/nope/evaluate",
                &admin,
                &payment("nope", "r-1", 100),
            )
            .await,
            app.post(
                "/v1/tenants/nope/evaluate/batch",
                &admin,
                &json!({"requests": [payment("nope", "r-1", 100)]}),
            )
            .await,
            app.upload(
                "/v1/tenants/nope/packs",
                &admin,
                pack_bytes("rollout-v1"),
                None,
            )
            .await,
        ];
        for r in &rs {
            problem(r, StatusCode::NOT_FOUND, "not-found");
            names(r, &["`nope`"]);
        }
        unchanged(&before, &snapshot(&app).await);
        let r = app.get("/v1/tenants/nope", &admin).await;
        problem(&r, StatusCode::NOT_FOUND, "not-found");
    }
);

both!(unknown_packs_and_versions_are_422, |app: App| async move {
    app.tenant_with("acme", &["treasury"], json!({})).await;
    let before = snapshot(&app).await;
    let put = |packs: Value| {
        let admin = app.admin();
        let app = &app;
        async move {
            app.put(
                "/v1/tenants/acme/composition",
                &admin,
                &json!({"version": 1, "composition": {"packs": packs}}),
            )
            .await
        }
    };
    let r = put(json!([{"name": "treasury"}, {"name": "nope"}])).await;
    problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-composition");
    names(&r, &["`nope`"]);
    let r = put(json!([{"name": "nope", "source": "tenant"}])).await;
    problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-composition");
    names(&r, &["`nope`"]);
    // A fleet pack is not a private pack.
    let r = put(json!([{"name": "treasury", "source": "tenant"}])).await;
    problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-composition");
    names(&r, &["`treasury`"]);
    let r = put(json!([{"name": "treasury", "version": "^99"}])).await;
    problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-composition");
    names(&r, &["`treasury`", "^99"]);
    let r = put(json!([{"name": "treasury", "version": "banana"}])).await;
    problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-composition");
    names(&r, &["`treasury`", "banana"]);
    let r = put(json!([{"name": "treasury"}, {"name": "treasury"}])).await;
    problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-composition");
    names(&r, &["treasury"]);
    unchanged(&before, &snapshot(&app).await);
});

both!(oversized_bodies_are_413, |app: App| async move {
    app.tenant_with("acme", &["treasury"], json!({})).await;
    let before = snapshot(&app).await;
    let admin = app.admin();
    let big = "x".repeat(4 * MIB + 1);

    let mut p = payment("acme", "r-1", 100);
    p["context"] = json!({"pad": big});
    let r = app
        .post(
            "/v1/tenants/acme/evaluate",
            &app.token("acme", &[Role::Runtime]),
            &p,
        )
        .await;
    problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    let r = app
        .post(
            "/v1/tenants/acme/evaluate/batch",
            &app.token("acme", &[Role::Runtime]),
            &json!({"requests": [p]}),
        )
        .await;
    problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    let r = app
        .post(
            "/v1/tenants",
            &admin,
            &json!({"id": "big", "display_name": big}),
        )
        .await;
    problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    let r = app
        .put(
            "/v1/tenants/acme/composition",
            &admin,
            &json!({"version": 1, "composition": {"packs": [{"name": "pii-strict"}],
                    "layers": [{"name": big}]}}),
        )
        .await;
    problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");

    // Packs may be up to 16 MiB (plus slack), more than JSON bodies ...
    let limit = 16 * MIB + 1024;
    let mut huge = b"\0asm\x0d\0\x01\0".to_vec();
    huge.resize(limit + 1, 0);
    let op = app.token("acme", &[Role::Operator]);
    let r = app.upload("/v1/packs", &admin, huge.clone(), None).await;
    problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    let r = app.upload("/v1/tenants/acme/packs", &op, huge, None).await;
    problem(&r, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large");
    // ... so a 5 MiB upload is read and judged as a pack, not refused for size.
    let mut mid = b"\0asm\x0d\0\x01\0".to_vec();
    mid.resize(5 * MIB, 0);
    let r = app.upload("/v1/packs", &admin, mid, None).await;
    problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-pack");

    unchanged(&before, &snapshot(&app).await);
});

both!(
    invalid_packs_are_422_and_not_listed,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({})).await;
        let before = snapshot(&app).await;
        let admin = app.admin();
        let op = app.token("acme", &[Role::Operator]);
        let cases: [(&[u8], &str); 4] = [
            (b"hello", ""),
            (b"", ""),
            (b"\0asm\x01\0\0\0", "wasm32-wasip2"),
            (b"\0asm\x0d\0\x01\0", "warden:policy/policy"),
        ];
        for (bytes, mention) in cases {
            for (path, token) in [("/v1/packs", &admin), ("/v1/tenants/acme/packs", &op)] {
                let r = app.upload(path, token, bytes.to_vec(), None).await;
                problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-pack");
                names(&r, &[mention]);
            }
        }
        // A real pack cut short is not a pack either.
        let v1 = pack_bytes("rollout-v1");
        let r = app
            .upload("/v1/packs", &admin, v1[..v1.len() / 2].to_vec(), None)
            .await;
        problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-pack");
        unchanged(&before, &snapshot(&app).await);
    }
);

both!(
    reuploading_identical_bytes_is_idempotent,
    |app: App| async move {
        let admin = app.admin();
        let v1 = pack_bytes("rollout-v1");
        let first = app.upload("/v1/packs", &admin, v1.clone(), None).await;
        assert_eq!(first.status, StatusCode::CREATED, "{:?}", first.json);
        let before = snapshot(&app).await;
        let again = app.upload("/v1/packs", &admin, v1.clone(), None).await;
        assert_eq!(again.status, StatusCode::OK, "{:?}", again.json);
        assert_eq!(again.json["digest"], first.json["digest"]);
        assert_eq!(again.json["uploaded_at"], first.json["uploaded_at"]);
        unchanged(&before, &snapshot(&app).await);
        let r = app.get("/v1/packs/rollout-demo", &admin).await;
        assert_eq!(r.json["versions"].as_array().unwrap().len(), 1);
    }
);

both!(
    stale_versions_are_409_with_the_current_version,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({})).await;
        let admin = app.admin();
        let path = "/v1/tenants/acme/composition";
        let first = json!({"packs": [{"name": "treasury"}, {"name": "pii-strict"}]});
        let r = app
            .put(path, &admin, &json!({"version": 1, "composition": first}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["version"], 2);
        let before = snapshot(&app).await;
        // A second editor who also read version 1.
        for base in [1, 0, 7] {
            let r = app
            .put(
                path,
                &admin,
                &json!({"version": base, "composition": {"packs": [{"name": "treasury"}], "default_effect": "allow"}}),
            )
            .await;
            problem(&r, StatusCode::CONFLICT, "version-conflict");
            assert_eq!(r.json["current_version"], 2, "{:?}", r.json);
        }
        unchanged(&before, &snapshot(&app).await);
        let r = app.get(path, &admin).await;
        assert_eq!(r.json["composition"]["packs"][1]["name"], "pii-strict");
        assert_eq!(r.json["composition"]["default_effect"], "deny");

        // The fleet layer works the same way.
        let v = app.get("/v1/fleet/layer", &admin).await.json["version"]
            .as_i64()
            .unwrap();
        let layer = |verdict: &str| {
            json!({"version": v, "layer": {"name": "fleet",
               "packs": {"treasury": {"approval-threshold": {"verdict": verdict}}}}})
        };
        let r = app.put("/v1/fleet/layer", &admin, &layer("deny")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let before = snapshot(&app).await;
        let r = app.put("/v1/fleet/layer", &admin, &layer("escalate")).await;
        problem(&r, StatusCode::CONFLICT, "version-conflict");
        assert_eq!(r.json["current_version"], v + 1, "{:?}", r.json);
        unchanged(&before, &snapshot(&app).await);
    }
);

both!(
    invalid_compositions_are_422_and_not_saved,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({})).await;
        let before = snapshot(&app).await;
        let admin = app.admin();
        let put = |layers: Value| {
            let admin = admin.clone();
            let app = &app;
            async move {
                app.put(
                "/v1/tenants/acme/composition",
                &admin,
                &json!({"version": 1, "composition": {"packs": [{"name": "treasury"}], "layers": layers}}),
            )
            .await
            }
        };
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (
                json!([{"name": "tenant:acme", "packs": {"treasury": {"no-such-rule": {"enabled": false}}}}]),
                vec!["no-such-rule", "tenant:acme", "treasury"],
            ),
            (
                json!([{"name": "tenant:acme", "packs": {"treasury": {"amount-limit": {"params": {"max": 5}}}}}]),
                vec!["treasury", "amount-limit", "max", "tenant:acme"],
            ),
            (
                json!([{"name": "tenant:acme", "packs": {"treasury": {"amount-limit": {"params": 5}}}}]),
                vec!["treasury", "amount-limit", "tenant:acme"],
            ),
            (
                json!([{"name": "strict", "restrict_only": true,
                    "packs": {"treasury": {"amount-limit": {"enabled": false}}}}]),
                vec!["restrict-only", "strict", "amount-limit"],
            ),
            (
                json!([{"name": "tenant:acme", "packs": {"pii-strict": {}}}]),
                vec!["pii-strict", "tenant:acme"],
            ),
            (json!([{"name": "fleet"}]), vec!["`fleet`", "reserved"]),
            (json!([{"name": "a"}, {"name": "a"}]), vec!["`a`"]),
        ];
        for (layers, words) in cases {
            let r = put(layers.clone()).await;
            problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-composition");
            names(&r, &words);
        }
        unchanged(&before, &snapshot(&app).await);

        // The fleet layer is validated against the catalog.
        let v = before["fleet_layer"]["version"].clone();
        let cases: Vec<(Value, Vec<&str>)> = vec![
            (json!({"nope": {"x": {"enabled": false}}}), vec!["`nope`"]),
            (
                json!({"treasury": {"no-such-rule": {"enabled": false}}}),
                vec!["no-such-rule"],
            ),
            (
                json!({"treasury": {"amount-limit": {"params": {"max": 5}}}}),
                vec!["treasury", "amount-limit"],
            ),
        ];
        for (packs, words) in cases {
            let r = app
                .put(
                    "/v1/fleet/layer",
                    &admin,
                    &json!({"version": v, "layer": {"name": "fleet", "packs": packs}}),
                )
                .await;
            problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-composition");
            names(&r, &words);
        }
        let r = app
            .put(
                "/v1/fleet/layer",
                &admin,
                &json!({"version": v, "layer": {"name": "fleet", "restrict_only": true,
                    "packs": {"treasury": {"amount-limit": {"enabled": false}}}}}),
            )
            .await;
        problem(&r, StatusCode::UNPROCESSABLE_ENTITY, "invalid-composition");
        names(&r, &["restrict-only"]);
        unchanged(&before, &snapshot(&app).await);
    }
);
