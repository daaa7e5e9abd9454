//! The auth matrix: every endpoint of the route list against missing,
//! expired, foreign-key and HS256 tokens, the wrong tenant, a missing role,
//! and the right role; plus the scoping rules of `*` and runtime tokens.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::auth_table::*;
use crate::harness::*;
use axum::http::{Method, StatusCode, header};
use base64::Engine as _;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::time::Duration;
use warden_server::auth::{Role, TokenSigner};
use warden_server::keys;
use warden_testkit::both;
use warden_testkit::pack_bytes;

fn now_s() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Tokens that must never authenticate; each carries fleet-admin claims,
/// so the only thing wrong with it is what its name says.
struct BadTokens {
    expired: String,
    foreign: String,
    hs256: String,
}

fn bad_tokens(app: &App) -> BadTokens {
    let now = now_s();
    let expired = app
        .signer
        .sign(&json!({
            "sub": "test", "iat": now - 7200, "exp": now - 3600,
            "tenant": "*", "roles": ["fleet-admin"],
        }))
        .unwrap();
    let other = TokenSigner::from_pem(
        &keys::signing_key_pem(&keys::generate_signing_key().unwrap()).unwrap(),
    )
    .unwrap();
    let foreign = other
        .issue("test", "*", &[Role::FleetAdmin], Duration::from_secs(600))
        .unwrap();
    let hs256 = TokenSigner::hs256(&[7u8; 32])
        .issue("test", "*", &[Role::FleetAdmin], Duration::from_secs(600))
        .unwrap();
    BadTokens {
        expired,
        foreign,
        hs256,
    }
}

async fn send(app: &App, e: &Endpoint, token: Option<&str>) -> Resp {
    let (ct, bytes) = match &e.body {
        Body::Empty => (None, Vec::new()),
        Body::Json(v) => (Some("application/json"), v.to_string().into_bytes()),
        Body::Wasm(b) => (Some("application/wasm"), b.clone()),
    };
    app.call(e.method.clone(), &e.path, token, ct, bytes, &[])
        .await
}

/// A 401 or 403 problem that names nothing: not the tenant, not the token,
/// not the signature check.
fn assert_denied(r: &Resp, status: StatusCode, token: Option<&str>, what: &str) {
    assert_eq!(r.status, status, "{what}: {:?}", r.json);
    let slug = if status == StatusCode::UNAUTHORIZED {
        "unauthorized"
    } else {
        "forbidden"
    };
    assert_eq!(r.problem(), slug, "{what}: {:?}", r.json);
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{what}"
    );
    assert_eq!(r.json["status"], status.as_u16(), "{what}");
    assert!(!r.detail().is_empty(), "{what}: {:?}", r.json);
    if status == StatusCode::UNAUTHORIZED {
        let h = r
            .headers
            .get(header::WWW_AUTHENTICATE)
            .unwrap_or_else(|| panic!("{what}: 401 without www-authenticate"));
        assert!(h.to_str().unwrap().starts_with("Bearer"), "{what}: {h:?}");
    } else {
        assert!(
            r.headers.get(header::WWW_AUTHENTICATE).is_none(),
            "{what}: 403 with www-authenticate"
        );
    }
    let body = String::from_utf8_lossy(&r.bytes).to_lowercase();
    for secret in ["acme", "beta", "signature"] {
        assert!(
            !body.contains(secret),
            "{what}: the denial mentions `{secret}`: {body}"
        );
    }
    if let Some(t) = token {
        assert!(
            !body.contains(&t.to_lowercase()),
            "{what}: echoes the token"
        );
        // Nor any of its parts (header, claims, signature).
        for part in t.split('.').filter(|p| p.len() > 8) {
            assert!(
                !body.contains(&part.to_lowercase()),
                "{what}: echoes part of the token"
            );
        }
    }
}

fn allowed_status(r: &Resp, e: &Endpoint, who: &str) {
    assert!(
        r.status != StatusCode::UNAUTHORIZED && r.status != StatusCode::FORBIDDEN,
        "{} {} as {who}: {} {:?}",
        e.method,
        e.path,
        r.status,
        r.json
    );
    assert_eq!(
        r.status, e.ok,
        "{} {} as {who}: {:?}",
        e.method, e.path, r.json
    );
}

/// Runs the six cases (and every role) against each endpoint. Denied calls
/// go first so an authorization hole that let one through would show up as
/// a changed status, not a changed fixture.
async fn check_matrix(app: &App, endpoints: &[Endpoint]) {
    let bad = bad_tokens(app);
    let mut invalid_details = BTreeSet::new();
    let mut forbidden_details = BTreeSet::new();
    for e in endpoints {
        let what = |case: &str| format!("{} {} with {case}", e.method, e.path);

        // 1. No token.
        let r = send(app, e, None).await;
        assert_denied(&r, StatusCode::UNAUTHORIZED, None, &what("no token"));
        // 2-4. Expired, signed by an unknown key, HS256 while HS256 is off.
        for (case, t) in [
            ("an expired token", &bad.expired),
            ("a token signed by another key", &bad.foreign),
            ("an HS256 token", &bad.hs256),
        ] {
            let r = send(app, e, Some(t)).await;
            assert_denied(&r, StatusCode::UNAUTHORIZED, Some(t), &what(case));
            invalid_details.insert(r.detail().to_owned());
        }

        match e.access {
            Access::FleetAdmin => {
                // 5. The fleet-admin role scoped to one tenant is not fleet scope.
                for tenant in ["acme", "beta"] {
                    let t = app.token(tenant, &[Role::FleetAdmin]);
                    let r = send(app, e, Some(&t)).await;
                    let case = format!("a fleet-admin token of tenant {tenant}");
                    assert_denied(&r, StatusCode::FORBIDDEN, Some(&t), &what(&case));
                    forbidden_details.insert(r.detail().to_owned());
                }
                // 6. Fleet scope without the role, one role at a time and all at once.
                let others: Vec<Role> = ALL_ROLES
                    .into_iter()
                    .filter(|r| *r != Role::FleetAdmin)
                    .collect();
                for roles in others.iter().map(|r| vec![*r]).chain([others.clone()]) {
                    let t = app.token("*", &roles);
                    let r = send(app, e, Some(&t)).await;
                    let case = format!("a `*` token with {roles:?}");
                    assert_denied(&r, StatusCode::FORBIDDEN, Some(&t), &what(&case));
                    forbidden_details.insert(r.detail().to_owned());
                }
                // 7. The right role.
                let r = send(app, e, Some(&app.admin())).await;
                allowed_status(&r, e, "fleet admin");
            }
            Access::Tenant(allowed) => {
                // 5. Another tenant's token, even with every role.
                let t = app.token("beta", &ALL_ROLES);
                let r = send(app, e, Some(&t)).await;
                assert_denied(&r, StatusCode::FORBIDDEN, Some(&t), &what("a beta token"));
                forbidden_details.insert(r.detail().to_owned());
                // 6. The right tenant without an allowed role.
                let missing: Vec<Role> = ALL_ROLES
                    .into_iter()
                    .filter(|r| !allowed.contains(r))
                    .collect();
                for roles in missing.iter().map(|r| vec![*r]).chain([missing.clone()]) {
                    let t = app.token("acme", &roles);
                    let r = send(app, e, Some(&t)).await;
                    let case = format!("an acme token with {roles:?}");
                    assert_denied(&r, StatusCode::FORBIDDEN, Some(&t), &what(&case));
                    forbidden_details.insert(r.detail().to_owned());
                }
                // 7. Each allowed role on its own.
                for role in allowed {
                    let r = send(app, e, Some(&app.token("acme", &[*role]))).await;
                    allowed_status(&r, e, &format!("acme {role:?}"));
                }
                // Fleet admins may read any tenant.
                if e.method == Method::GET {
                    let r = send(app, e, Some(&app.admin())).await;
                    allowed_status(&r, e, "fleet admin");
                }
            }
            Access::Fleet(allowed) => {
                // 5. A tenant's token, even with every role (fleet-admin too).
                for tenant in ["acme", "beta"] {
                    let t = app.token(tenant, &ALL_ROLES);
                    let r = send(app, e, Some(&t)).await;
                    let case = format!("a {tenant} token with every role");
                    assert_denied(&r, StatusCode::FORBIDDEN, Some(&t), &what(&case));
                    forbidden_details.insert(r.detail().to_owned());
                }
                // 6. Fleet scope without an allowed role.
                let missing: Vec<Role> = ALL_ROLES
                    .into_iter()
                    .filter(|r| !allowed.contains(r) && *r != Role::FleetAdmin)
                    .collect();
                for roles in missing.iter().map(|r| vec![*r]).chain([missing.clone()]) {
                    let t = app.token("*", &roles);
                    let r = send(app, e, Some(&t)).await;
                    let case = format!("a `*` token with {roles:?}");
                    assert_denied(&r, StatusCode::FORBIDDEN, Some(&t), &what(&case));
                    forbidden_details.insert(r.detail().to_owned());
                }
                // 7. Each allowed role with fleet scope, and the fleet admin.
                for role in allowed {
                    let r = send(app, e, Some(&app.token("*", &[*role]))).await;
                    allowed_status(&r, e, &format!("`*` {role:?}"));
                }
                let r = send(app, e, Some(&app.admin())).await;
                allowed_status(&r, e, "fleet admin");
            }
            Access::Any => {
                // There is no wrong tenant or role: any valid token reads.
                for (tenant, role) in [
                    ("beta", Role::Runtime),
                    ("acme", Role::Approver),
                    ("acme", Role::FleetAdmin),
                    ("*", Role::Auditor),
                    ("*", Role::FleetAdmin),
                ] {
                    let r = send(app, e, Some(&app.token(tenant, &[role]))).await;
                    allowed_status(&r, e, &format!("{tenant} {role:?}"));
                }
            }
        }
    }
    // The cause of a rejected token is not revealed: every invalid token
    // gets the same answer, and so does every forbidden call.
    assert_eq!(invalid_details.len(), 1, "{invalid_details:?}");
    assert_eq!(forbidden_details.len(), 1, "{forbidden_details:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_endpoint_requires_the_right_token() {
    let app = App::new(Backend::Sqlite).await;
    let fx = fixtures(&app).await;
    let table = endpoints(&fx);

    // The table is the route list: an endpoint added without an auth row fails here.
    let mut covered: BTreeSet<(String, String)> = table
        .iter()
        .map(|e| (e.method.to_string(), e.template.to_owned()))
        .collect();
    assert_eq!(covered.len(), table.len(), "a row is listed twice");
    covered.insert(("GET".to_owned(), "/healthz".to_owned()));
    covered.insert(("GET".to_owned(), "/readyz".to_owned()));
    assert_eq!(covered, documented_operations(&app).await);

    check_matrix(&app, &table).await;

    // The matrix's allowed calls did what they say.
    let admin = app.admin();
    let r = app.get("/v1/tenants/gamma", &admin).await;
    assert_eq!(r.status, StatusCode::OK);
    let r = app.get("/v1/tenants/acme", &admin).await;
    assert_eq!(r.json["display_name"], "ACME Corp");
    assert_eq!(r.json["composition_version"], 2);
    let r = app
        .get(&format!("/v1/rollouts/{}", fx.rollout), &admin)
        .await;
    assert_eq!(r.json["state"], "completed", "{:?}", r.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_document_answer_without_a_token() {
    let app = App::new(Backend::Sqlite).await;
    let bad = bad_tokens(&app);
    for path in ["/healthz", "/readyz", "/openapi.json"] {
        let r = app
            .call(Method::GET, path, None, None, Vec::new(), &[])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.json);
        assert!(r.json.is_object(), "{path}");
        // A stale token does not break a probe either.
        let r = app
            .call(Method::GET, path, Some(&bad.expired), None, Vec::new(), &[])
            .await;
        assert_eq!(r.status, StatusCode::OK, "{path} with an expired token");
    }
    let r = app
        .call(Method::GET, "/healthz", None, None, Vec::new(), &[])
        .await;
    assert_eq!(r.json["status"], "ok");
    let r = app
        .call(Method::GET, "/readyz", None, None, Vec::new(), &[])
        .await;
    assert_eq!(r.json["status"], "ready");
}

both!(auth_on_both_backends, |app: App| async move {
    app.tenant_with("acme", &["treasury"], json!({})).await;
    app.tenant_with("beta", &["treasury"], json!({})).await;
    let table = vec![
        ep(
            Method::GET,
            "/v1/tenants",
            "/v1/tenants",
            Access::FleetAdmin,
            Body::Empty,
            StatusCode::OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}",
            "/v1/tenants/acme",
            Access::Tenant(TENANT_READERS),
            Body::Empty,
            StatusCode::OK,
        ),
        ep(
            Method::PUT,
            "/v1/tenants/{tenant}/composition",
            "/v1/tenants/acme/composition",
            Access::Tenant(&[Role::Operator]),
            Body::Json(json!({"version": 1, "composition": {"packs": [{"name": "pii-strict"}]}})),
            StatusCode::OK,
        ),
        ep(
            Method::POST,
            "/v1/tenants/{tenant}/evaluate",
            "/v1/tenants/acme/evaluate",
            Access::Tenant(&[Role::Runtime]),
            Body::Json(payment("acme", "r-1", 100)),
            StatusCode::OK,
        ),
    ];
    check_matrix(&app, &table).await;
    // Only the operator's write landed.
    let r = app.get("/v1/tenants/acme/composition", &app.admin()).await;
    assert_eq!(r.json["version"], 2);
    assert_eq!(r.json["composition"]["packs"][0]["name"], "pii-strict");
    let r = app.get("/v1/tenants/beta/composition", &app.admin()).await;
    assert_eq!(r.json["version"], 1);
    assert_eq!(r.json["composition"]["packs"][0]["name"], "treasury");
});

both!(
    star_operator_operates_every_composition,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({})).await;
        app.tenant_with("beta", &["treasury"], json!({})).await;
        let op = app.token("*", &[Role::Operator]);
        for t in ["acme", "beta"] {
            let path = format!("/v1/tenants/{t}/composition");
            let r = app.get(&path, &op).await;
            assert_eq!(r.status, StatusCode::OK, "{t}: {:?}", r.json);
            assert_eq!(r.json["version"], 1);
            let r = app
            .put(
                &path,
                &op,
                &json!({"version": 1, "composition": {"packs": [{"name": "treasury"}, {"name": "pii-strict"}]}}),
            )
            .await;
            assert_eq!(r.status, StatusCode::OK, "{t}: {:?}", r.json);
            assert_eq!(r.json["version"], 2);
            let r = app.get(&path, &app.admin()).await;
            assert_eq!(r.json["version"], 2, "{t}");
            assert_eq!(r.json["composition"]["packs"][1]["name"], "pii-strict");
        }
        // Fleet scope does not make an operator a fleet admin.
        let denied = [
            app.get("/v1/tenants", &op).await,
            app.post("/v1/tenants", &op, &json!({"id": "gamma"})).await,
            app.patch("/v1/tenants/acme", &op, &json!({"disabled": true}))
                .await,
            app.put(
                "/v1/fleet/layer",
                &op,
                &json!({"version": 0, "layer": {"name": "fleet"}}),
            )
            .await,
            app.get("/v1/rollouts", &op).await,
            app.upload("/v1/packs", &op, pack_bytes("rollout-v1"), None)
                .await,
            // Nor a runtime.
            app.post("/v1/tenants/acme/evaluate", &op, &payment("acme", "r", 1))
                .await,
        ];
        for r in &denied {
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.json);
            assert_eq!(r.problem(), "forbidden");
        }
        let admin = app.admin();
        let r = app.get("/v1/tenants", &admin).await;
        assert_eq!(r.json["items"].as_array().unwrap().len(), 2);
        assert_eq!(
            app.get("/v1/tenants/acme", &admin).await.json["disabled"],
            false
        );
        let r = app.get("/v1/packs/rollout-demo", &admin).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
    }
);

both!(
    runtime_token_is_confined_to_its_tenant,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({})).await;
        app.tenant_with("beta", &["treasury"], json!({})).await;
        let rt = app.token("acme", &[Role::Runtime]);
        let r = app.get("/v1/tenants/acme", &rt).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let r = app
            .post(
                "/v1/tenants/acme/evaluate",
                &rt,
                &payment("acme", "r-1", 100),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);

        let beta = app.get("/v1/tenants/beta", &rt).await;
        assert_denied(
            &beta,
            StatusCode::FORBIDDEN,
            Some(&rt),
            "runtime acme reading beta",
        );
        let list = app.get("/v1/tenants", &rt).await;
        assert_denied(
            &list,
            StatusCode::FORBIDDEN,
            Some(&rt),
            "runtime acme listing tenants",
        );
        let r = app
            .post(
                "/v1/tenants/beta/evaluate",
                &rt,
                &payment("beta", "r-2", 100),
            )
            .await;
        assert_denied(
            &r,
            StatusCode::FORBIDDEN,
            Some(&rt),
            "runtime acme evaluating for beta",
        );
        // A runtime reads its tenant, but not its composition.
        let r = app.get("/v1/tenants/acme/composition", &rt).await;
        assert_denied(
            &r,
            StatusCode::FORBIDDEN,
            Some(&rt),
            "runtime reading the composition",
        );
        // Another tenant that does not exist looks the same as one that does:
        // the answer reveals nothing about which tenants exist.
        let ghost = app.get("/v1/tenants/ghost", &rt).await;
        assert_eq!(ghost.status, StatusCode::FORBIDDEN);
        assert_eq!(ghost.bytes, beta.bytes);
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_tokens_and_headers_are_rejected() {
    let app = App::new(Backend::Sqlite).await;
    app.tenant_with("acme", &["treasury"], json!({})).await;
    let now = now_s();
    let b64 = |v: &Value| {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string().as_bytes())
    };
    let claims = json!({"sub": "x", "exp": now + 600, "tenant": "*", "roles": ["fleet-admin"]});
    // An unsigned token (`alg: none`) with fleet-admin claims.
    let none = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "typ": "JWT"})),
        b64(&claims)
    );
    // A valid token with its claims swapped for more powerful ones.
    let acme = app.token("acme", &[Role::Runtime]);
    let parts: Vec<&str> = acme.split('.').collect();
    let tampered = format!("{}.{}.{}", parts[0], b64(&claims), parts[2]);
    let sign = |c: Value| app.signer.sign(&c).unwrap();
    let tokens = [
        none,
        tampered,
        "not.a.jwt".to_owned(),
        // Claims the server requires are missing or unusable.
        sign(json!({"sub": "x", "exp": now + 600, "roles": ["fleet-admin"]})),
        sign(json!({"sub": "x", "exp": now + 600, "tenant": "*", "roles": []})),
        sign(json!({"sub": "x", "exp": now + 600, "tenant": "*", "roles": ["root"]})),
        sign(json!({"sub": "", "exp": now + 600, "tenant": "*", "roles": ["fleet-admin"]})),
        sign(json!({"sub": "x", "tenant": "*", "roles": ["fleet-admin"]})),
        sign(json!({"sub": "x", "exp": now + 600, "tenant": "", "roles": ["fleet-admin"]})),
    ];
    for t in &tokens {
        let r = app.get("/v1/tenants", t).await;
        assert_denied(&r, StatusCode::UNAUTHORIZED, Some(t), &format!("token {t}"));
    }
    // Not a bearer credential at all.
    let admin = app.admin();
    for h in [
        format!("Basic {admin}"),
        "Bearer".to_owned(),
        "Bearer    ".to_owned(),
        admin.clone(),
    ] {
        let r = app
            .call(
                Method::GET,
                "/v1/tenants",
                None,
                None,
                Vec::new(),
                &[("authorization", &h)],
            )
            .await;
        assert_denied(
            &r,
            StatusCode::UNAUTHORIZED,
            Some(&admin),
            &format!("header {h:?}"),
        );
    }
    // The good token works, so the rejections above were about the token.
    assert_eq!(app.get("/v1/tenants", &admin).await.status, StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_accepted_token_stops_working_when_it_expires() {
    let app = App::new(Backend::Sqlite).await;
    let t = app
        .signer
        .issue("test", "*", &[Role::FleetAdmin], Duration::from_secs(1))
        .unwrap();
    assert_eq!(app.get("/v1/tenants", &t).await.status, StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let r = app.get("/v1/tenants", &t).await;
    assert_denied(
        &r,
        StatusCode::UNAUTHORIZED,
        Some(&t),
        "a token past its expiry",
    );
}
