//! The auth matrix's table: every endpoint of the route list, who may call
//! it, and the fixtures that make its path resolve.

use crate::harness::*;
use axum::http::{Method, StatusCode};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use warden_server::auth::Role;
use warden_testkit::pack_bytes;

pub(crate) const ALL_ROLES: [Role; 6] = [
    Role::FleetAdmin,
    Role::Operator,
    Role::Approver,
    Role::Agent,
    Role::Runtime,
    Role::Auditor,
];
/// Roles that may read a tenant and its public key.
pub(crate) const TENANT_READERS: &[Role] =
    &[Role::Operator, Role::Auditor, Role::Runtime, Role::Approver];
/// Roles that may read a tenant's approval requests.
pub(crate) const APPROVAL_READERS: &[Role] = &[
    Role::Runtime,
    Role::Approver,
    Role::Agent,
    Role::Operator,
    Role::Auditor,
];
/// Roles that may read a tenant's composition and private packs.
pub(crate) const OPS_AUDIT: &[Role] = &[Role::Operator, Role::Auditor];

/// Who may call an endpoint.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Access {
    /// A fleet-scope (`*`) token with the fleet-admin role.
    FleetAdmin,
    /// A token of the path's tenant (`acme`) with one of these roles.
    Tenant(&'static [Role]),
    /// A fleet admin, or a `*` token with one of these roles (the fleet log).
    Fleet(&'static [Role]),
    /// Any valid token.
    Any,
}

/// What an endpoint is sent.
#[derive(Debug, Clone)]
pub(crate) enum Body {
    Empty,
    Json(Value),
    Wasm(Vec<u8>),
}

/// One row of the matrix.
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    pub(crate) method: Method,
    /// The path as the route list (and the OpenAPI document) spells it.
    pub(crate) template: &'static str,
    /// A concrete path that resolves given the fixtures.
    pub(crate) path: String,
    pub(crate) access: Access,
    pub(crate) body: Body,
    /// The status an allowed caller gets, given the fixtures.
    pub(crate) ok: StatusCode,
}

pub(crate) fn ep(
    method: Method,
    template: &'static str,
    path: &str,
    access: Access,
    body: Body,
    ok: StatusCode,
) -> Endpoint {
    Endpoint {
        method,
        template,
        path: path.to_owned(),
        access,
        body,
        ok,
    }
}

/// What the fixtures created.
pub(crate) struct Fixtures {
    pub(crate) rollout: String,
    pub(crate) fleet_layer_version: i64,
    /// A decision recorded in `acme`'s trace log.
    pub(crate) decision_id: String,
    /// An approved (not redeemed) approval request of `acme`.
    pub(crate) approval: String,
}

/// Tenants `acme` and `beta` on treasury; `rollout-demo` 1.0.0 and 2.0.0
/// in the fleet catalog and private to `acme`; a canary rollout to 2.0.0;
/// one decision for `acme`.
pub(crate) async fn fixtures(app: &App) -> Fixtures {
    app.tenant_with("acme", &["treasury"], json!({})).await;
    app.tenant_with("beta", &["treasury"], json!({})).await;
    let admin = app.admin();
    let op = app.token("acme", &[Role::Operator]);
    for v in ["rollout-v1", "rollout-v2"] {
        let r = app.upload("/v1/packs", &admin, pack_bytes(v), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
        let r = app
            .upload("/v1/tenants/acme/packs", &op, pack_bytes(v), None)
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    }
    let r = app
        .post(
            "/v1/rollouts",
            &admin,
            &json!({"pack": "rollout-demo", "to": "2.0.0",
                    "stage": {"kind": "canary", "tenants": ["acme"]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let rollout = r.json["id"].as_str().unwrap().to_owned();
    let r = app.get("/v1/fleet/layer", &admin).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let fleet_layer_version = r.json["version"].as_i64().unwrap();
    let rt = app.token("acme", &[Role::Runtime]);
    let r = app
        .post(
            "/v1/tenants/acme/evaluate",
            &rt,
            &payment("acme", "r-0", 100),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let decision_id = r.json["decision_id"].as_str().unwrap().to_owned();
    let r = app
        .put(
            "/v1/tenants/acme/approval-policy",
            &op,
            &json!({"version": 0, "policy": {"default_policy": "p", "policies": {"p": {
                "steps": [{"approvers": [{"user": "alice"}], "sla": "1h"}]}}}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let r = app
        .post(
            "/v1/tenants/acme/evaluate",
            &rt,
            &payment("acme", "r-esc", 450_000),
        )
        .await;
    let approval = r.json["approval"]["id"].as_str().unwrap().to_owned();
    let alice = app.token_for("alice", "acme", &[Role::Approver], &[]);
    let r = app
        .post(
            &format!("/v1/tenants/acme/approvals/{approval}/votes"),
            &alice,
            &json!({"choice": "approve"}),
        )
        .await;
    assert_eq!(r.json["status"], "approved", "{:?}", r.json);
    Fixtures {
        rollout,
        fleet_layer_version,
        decision_id,
        approval,
    }
}

/// Every endpoint of the route list except health and the document.
/// Ordered so that each call leaves the fixtures the later rows need.
pub(crate) fn endpoints(fx: &Fixtures) -> Vec<Endpoint> {
    use Access::*;
    use Body::*;
    const OK: StatusCode = StatusCode::OK;
    let ro = &fx.rollout;
    let p = "rollout-demo";
    let v1 = pack_bytes("rollout-v1");
    vec![
        // Tenants.
        ep(
            Method::GET,
            "/v1/tenants",
            "/v1/tenants",
            FleetAdmin,
            Empty,
            OK,
        ),
        ep(
            Method::POST,
            "/v1/tenants",
            "/v1/tenants",
            FleetAdmin,
            Json(json!({"id": "gamma"})),
            StatusCode::CREATED,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}",
            "/v1/tenants/acme",
            Tenant(TENANT_READERS),
            Empty,
            OK,
        ),
        ep(
            Method::PATCH,
            "/v1/tenants/{tenant}",
            "/v1/tenants/acme",
            FleetAdmin,
            Json(json!({"display_name": "ACME Corp"})),
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/public-key",
            "/v1/tenants/acme/public-key",
            Tenant(TENANT_READERS),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/quarantine",
            "/v1/tenants/acme/quarantine",
            Tenant(&[Role::Operator, Role::Auditor, Role::Runtime]),
            Empty,
            OK,
        ),
        // Compositions and the fleet layer.
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/composition",
            "/v1/tenants/acme/composition",
            Tenant(OPS_AUDIT),
            Empty,
            OK,
        ),
        ep(
            Method::PUT,
            "/v1/tenants/{tenant}/composition",
            "/v1/tenants/acme/composition",
            Tenant(&[Role::Operator]),
            Json(json!({"version": 1, "composition": {"packs": [{"name": "treasury"}]}})),
            OK,
        ),
        ep(
            Method::GET,
            "/v1/fleet/layer",
            "/v1/fleet/layer",
            Any,
            Empty,
            OK,
        ),
        ep(
            Method::PUT,
            "/v1/fleet/layer",
            "/v1/fleet/layer",
            FleetAdmin,
            Json(json!({"version": fx.fleet_layer_version,
                        "layer": {"name": "fleet", "packs": {}}})),
            OK,
        ),
        // Approvals: the fixture's request is approved, so a vote finds it
        // resolved and a redemption for another action is refused.
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/approval-policy",
            "/v1/tenants/acme/approval-policy",
            Tenant(OPS_AUDIT),
            Empty,
            OK,
        ),
        ep(
            Method::PUT,
            "/v1/tenants/{tenant}/approval-policy",
            "/v1/tenants/acme/approval-policy",
            Tenant(&[Role::Operator]),
            Json(
                json!({"version": 99, "policy": {"default_policy": "p", "policies": {"p": {
                "steps": [{"approvers": [{"user": "alice"}], "sla": "1h"}]}}}}),
            ),
            StatusCode::CONFLICT,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/approval-policy/webhook-secret",
            "/v1/tenants/acme/approval-policy/webhook-secret",
            Tenant(&[Role::Operator]),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/approvals",
            "/v1/tenants/acme/approvals",
            Tenant(&[Role::Approver, Role::Agent, Role::Operator, Role::Auditor]),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/approvals/{id}",
            &format!("/v1/tenants/acme/approvals/{}", fx.approval),
            Tenant(APPROVAL_READERS),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/approvals/{id}/wait",
            &format!(
                "/v1/tenants/acme/approvals/{}/wait?timeout_s=0",
                fx.approval
            ),
            Tenant(APPROVAL_READERS),
            Empty,
            OK,
        ),
        ep(
            Method::POST,
            "/v1/tenants/{tenant}/approvals/{id}/votes",
            &format!("/v1/tenants/acme/approvals/{}/votes", fx.approval),
            Tenant(&[Role::Approver, Role::Agent]),
            Json(json!({"choice": "approve", "reason": "ok"})),
            StatusCode::CONFLICT,
        ),
        ep(
            Method::POST,
            "/v1/tenants/{tenant}/approvals/{id}/redeem",
            &format!("/v1/tenants/acme/approvals/{}/redeem", fx.approval),
            Tenant(&[Role::Runtime]),
            Json(json!({"request_digest": format!("sha256:{}", "0".repeat(64))})),
            StatusCode::CONFLICT,
        ),
        // Decisions.
        ep(
            Method::POST,
            "/v1/tenants/{tenant}/evaluate",
            "/v1/tenants/acme/evaluate",
            Tenant(&[Role::Runtime]),
            Json(payment("acme", "r-1", 100)),
            OK,
        ),
        ep(
            Method::POST,
            "/v1/tenants/{tenant}/evaluate/batch",
            "/v1/tenants/acme/evaluate/batch",
            Tenant(&[Role::Runtime]),
            Json(json!({"requests": [payment("acme", "r-2", 100)]})),
            OK,
        ),
        // The trace log: checkpoint on demand, then the latest one.
        ep(
            Method::POST,
            "/v1/tenants/{tenant}/trace/checkpoint",
            "/v1/tenants/acme/trace/checkpoint",
            Tenant(OPS_AUDIT),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/trace/checkpoint",
            "/v1/tenants/acme/trace/checkpoint",
            Tenant(OPS_AUDIT),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/trace/verify",
            "/v1/tenants/acme/trace/verify",
            Tenant(&[Role::Auditor]),
            Empty,
            OK,
        ),
        // The fleet log: checkpoint on demand, the latest, verify, events, key.
        ep(
            Method::POST,
            "/v1/fleet/trace/checkpoint",
            "/v1/fleet/trace/checkpoint",
            Fleet(OPS_AUDIT),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/fleet/trace/checkpoint",
            "/v1/fleet/trace/checkpoint",
            Fleet(OPS_AUDIT),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/fleet/trace/verify",
            "/v1/fleet/trace/verify",
            Fleet(&[Role::Auditor]),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/fleet/trace/events",
            "/v1/fleet/trace/events",
            Fleet(&[Role::Auditor]),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/fleet/public-key",
            "/v1/fleet/public-key",
            Fleet(OPS_AUDIT),
            Empty,
            OK,
        ),
        ep(
            Method::POST,
            "/v1/tenants/{tenant}/trace/prune",
            "/v1/tenants/acme/trace/prune",
            Tenant(&[Role::Operator]),
            Empty,
            OK,
        ),
        // Reading the log: by filter, one run (the evaluate row's `r-1`), the export.
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/trace/events",
            "/v1/tenants/acme/trace/events?verdict=allow&limit=5",
            Tenant(&[Role::Auditor]),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/trace/runs/{request_id}",
            "/v1/tenants/acme/trace/runs/r-1",
            Tenant(&[Role::Auditor]),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/trace/export",
            "/v1/tenants/acme/trace/export",
            Tenant(&[Role::Auditor]),
            Empty,
            OK,
        ),
        ep(
            Method::POST,
            "/v1/tenants/{tenant}/trace/replay",
            "/v1/tenants/acme/trace/replay",
            Tenant(&[Role::Operator]),
            Json(json!({"decision_id": fx.decision_id})),
            OK,
        ),
        ep(
            Method::POST,
            "/v1/tenants/{tenant}/trace/what-if",
            "/v1/tenants/acme/trace/what-if",
            Tenant(&[Role::Operator]),
            Json(json!({"candidate": {"pack": "treasury", "version": "1.0.0"}})),
            OK,
        ),
        // The catalog: re-uploading stored bytes is an idempotent 200.
        ep(Method::GET, "/v1/packs", "/v1/packs", Any, Empty, OK),
        ep(
            Method::POST,
            "/v1/packs",
            "/v1/packs",
            FleetAdmin,
            Wasm(v1.clone()),
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/packs",
            "/v1/tenants/acme/packs",
            Tenant(OPS_AUDIT),
            Empty,
            OK,
        ),
        ep(
            Method::POST,
            "/v1/tenants/{tenant}/packs",
            "/v1/tenants/acme/packs",
            Tenant(&[Role::Operator]),
            Wasm(v1),
            OK,
        ),
        ep(
            Method::GET,
            "/v1/packs/{name}",
            &format!("/v1/packs/{p}"),
            Any,
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/packs/{name}",
            &format!("/v1/tenants/acme/packs/{p}"),
            Tenant(OPS_AUDIT),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/packs/{name}/versions/{version}",
            &format!("/v1/packs/{p}/versions/1.0.0"),
            Any,
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/packs/{name}/versions/{version}",
            &format!("/v1/tenants/acme/packs/{p}/versions/1.0.0"),
            Tenant(OPS_AUDIT),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/packs/{name}/versions/{version}/wasm",
            &format!("/v1/packs/{p}/versions/1.0.0/wasm"),
            Any,
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/packs/{name}/versions/{version}/wasm",
            &format!("/v1/tenants/acme/packs/{p}/versions/1.0.0/wasm"),
            Tenant(OPS_AUDIT),
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/packs/{name}/diff",
            &format!("/v1/packs/{p}/diff?from=1.0.0&to=2.0.0"),
            Any,
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/tenants/{tenant}/packs/{name}/diff",
            &format!("/v1/tenants/acme/packs/{p}/diff?from=1.0.0&to=2.0.0"),
            Tenant(OPS_AUDIT),
            Empty,
            OK,
        ),
        // Rollouts: the fixture's rollout is open, so another start
        // conflicts; then it is walked to completion, and a completed
        // rollout cannot be rolled back.
        ep(
            Method::GET,
            "/v1/rollouts",
            "/v1/rollouts",
            FleetAdmin,
            Empty,
            OK,
        ),
        ep(
            Method::POST,
            "/v1/rollouts",
            "/v1/rollouts",
            FleetAdmin,
            Json(json!({"pack": p, "to": "2.0.0", "stage": {"kind": "full"}})),
            StatusCode::CONFLICT,
        ),
        ep(
            Method::GET,
            "/v1/rollouts/{id}",
            &format!("/v1/rollouts/{ro}"),
            FleetAdmin,
            Empty,
            OK,
        ),
        ep(
            Method::GET,
            "/v1/rollouts/{id}/shadow",
            &format!("/v1/rollouts/{ro}/shadow"),
            FleetAdmin,
            Empty,
            OK,
        ),
        ep(
            Method::POST,
            "/v1/rollouts/{id}/advance",
            &format!("/v1/rollouts/{ro}/advance"),
            FleetAdmin,
            Json(json!({"stage": {"kind": "full"}})),
            OK,
        ),
        ep(
            Method::POST,
            "/v1/rollouts/{id}/mode",
            &format!("/v1/rollouts/{ro}/mode"),
            FleetAdmin,
            Json(json!({"mode": "shadow"})),
            OK,
        ),
        ep(
            Method::POST,
            "/v1/rollouts/{id}/pause",
            &format!("/v1/rollouts/{ro}/pause"),
            FleetAdmin,
            Empty,
            OK,
        ),
        ep(
            Method::POST,
            "/v1/rollouts/{id}/resume",
            &format!("/v1/rollouts/{ro}/resume"),
            FleetAdmin,
            Empty,
            OK,
        ),
        ep(
            Method::POST,
            "/v1/rollouts/{id}/complete",
            &format!("/v1/rollouts/{ro}/complete"),
            FleetAdmin,
            Empty,
            OK,
        ),
        ep(
            Method::POST,
            "/v1/rollouts/{id}/rollback",
            &format!("/v1/rollouts/{ro}/rollback"),
            FleetAdmin,
            Empty,
            StatusCode::CONFLICT,
        ),
    ]
}

/// Every (method, path) of the served OpenAPI document.
pub(crate) async fn documented_operations(app: &App) -> BTreeSet<(String, String)> {
    let r = app
        .call(Method::GET, "/openapi.json", None, None, Vec::new(), &[])
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let mut ops = BTreeSet::new();
    for (path, item) in r.json["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if [
                "get", "put", "post", "delete", "patch", "head", "options", "trace",
            ]
            .contains(&method.as_str())
            {
                ops.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    ops
}
