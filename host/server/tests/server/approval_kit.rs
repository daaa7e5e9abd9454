//! What the approval tests share: saving `acme`'s approval policy, an
//! escalating payment, voting, reading a request back.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{Value, json};
use warden_server::auth::Role;

/// Saves `acme`'s approval policy at `version` (the one the edit is based on).
pub(crate) async fn put_policy(app: &App, version: i64, policy: Value) -> Resp {
    let op = app.token("acme", &[Role::Operator]);
    app.put(
        "/v1/tenants/acme/approval-policy",
        &op,
        &json!({"version": version, "policy": policy}),
    )
    .await
}

/// [`put_policy`], which must succeed.
pub(crate) async fn save(app: &App, version: i64, policy: Value) -> Resp {
    let r = put_policy(app, version, policy).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    r
}

/// One escalation policy `p` with `steps`, the default.
pub(crate) fn one_policy(steps: Value) -> Value {
    json!({"default_policy": "p", "policies": {"p": {"steps": steps}}})
}

/// Escalates a payment of `agent`, on behalf of `on_behalf_of`; the
/// decision response.
pub(crate) async fn escalate(app: &App, id: &str, on_behalf_of: Option<&str>) -> Value {
    let rt = app.token("acme", &[Role::Runtime]);
    let mut req = payment("acme", id, 450_000);
    if let Some(p) = on_behalf_of {
        req["principal"]["on_behalf_of"] = json!(p);
    }
    let r = app.post("/v1/tenants/acme/evaluate", &rt, &req).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["verdict"], "escalate", "{:?}", r.json);
    r.json
}

pub(crate) fn approval_id(decision: &Value) -> String {
    decision["approval"]["id"].as_str().unwrap().to_owned()
}

pub(crate) fn approver(app: &App, sub: &str, groups: &[&str]) -> String {
    app.token_for(sub, "acme", &[Role::Approver], groups)
}

pub(crate) async fn vote(
    app: &App,
    token: &str,
    id: &str,
    choice: &str,
    reason: Option<&str>,
) -> Resp {
    let mut body = json!({"choice": choice});
    if let Some(r) = reason {
        body["reason"] = json!(r);
    }
    app.post(
        &format!("/v1/tenants/acme/approvals/{id}/votes"),
        token,
        &body,
    )
    .await
}

pub(crate) async fn get(app: &App, id: &str) -> Value {
    let r = app
        .get(
            &format!("/v1/tenants/acme/approvals/{id}"),
            &app.token("acme", &[Role::Auditor]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    r.json
}
