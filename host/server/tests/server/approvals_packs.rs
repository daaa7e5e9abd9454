//! Downstream-pack approvers: a pack from the catalog, evaluated by the
//! host on the escalated request, votes when its step starts: `allow`
//! approves, `deny` denies with the pack's reason.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::approval_kit::{get, one_policy, put_policy};
use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use warden_server::auth::Role;
use warden_testkit::{both, pack_bytes};

/// `acme` runs rollout-demo 2.0.0 (cap 100.00) with its denials turned into
/// escalations; rollout-demo 1.0.0 (cap 1000.00) reviews them.
async fn setup(app: &App, steps: Value) -> Resp {
    let admin = app.admin();
    for v in ["rollout-v1", "rollout-v2"] {
        let r = app.upload("/v1/packs", &admin, pack_bytes(v), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    }
    app.tenant_with(
        "acme",
        &[],
        json!({"packs": [{"name": "rollout-demo", "version": "=2.0.0"}],
               "layers": [{"name": "tenant", "packs": {"rollout-demo": {"payment-cap": {"verdict": "escalate"}}}}]}),
    )
    .await;
    put_policy(app, 0, one_policy(steps)).await
}

fn reviewer() -> Value {
    json!({"pack": {"name": "rollout-demo", "version": "=1.0.0"}})
}

async fn escalate(app: &App, id: &str, minor: i64) -> Value {
    let rt = app.token("acme", &[Role::Runtime]);
    let r = app
        .post(
            "/v1/tenants/acme/evaluate",
            &rt,
            &payment("acme", id, minor),
        )
        .await;
    assert_eq!(r.json["verdict"], "escalate", "{:?}", r.json);
    r.json
}

both!(
    a_pack_approver_approves_or_denies_when_its_step_starts,
    |app: App| async move {
        let r = setup(
            &app,
            json!([{"approvers": [reviewer(), {"user": "alice"}], "sla": "1h"}]),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        // 500.00 EUR: over the tenant's cap (escalated), within the reviewer's.
        let d = escalate(&app, "pk-1", 50_000).await;
        assert_eq!(d["approval"]["status"], "approved", "{d:?}");
        let v = get(&app, d["approval"]["id"].as_str().unwrap()).await;
        assert_eq!(v["votes"][0]["voter"], "pack:rollout-demo");
        assert_eq!(
            v["votes"][0]["reason"],
            "rollout-demo/payment-cap: within the cap"
        );
        assert_eq!(v["resolution"]["cause"], "votes");
        // 2000.00 EUR: the reviewer denies, with its reason.
        let d = escalate(&app, "pk-2", 200_000).await;
        assert_eq!(d["approval"]["status"], "denied", "{d:?}");
        let v = get(&app, d["approval"]["id"].as_str().unwrap()).await;
        assert!(
            v["votes"][0]["reason"]
                .as_str()
                .unwrap()
                .contains("above the cap"),
            "{v:?}"
        );
    }
);

both!(
    a_pack_on_a_later_step_votes_when_the_step_starts,
    |app: App| async move {
        let r = setup(
            &app,
            json!([{"approvers": [{"user": "alice"}], "sla": "1s", "on_timeout": "next"},
               {"approvers": [reviewer()], "sla": "1h"}]),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let d = escalate(&app, "pk-3", 50_000).await;
        assert_eq!(d["approval"]["status"], "pending", "alice's step first");
        tokio::time::sleep(Duration::from_millis(1100)).await;
        warden_server::approvals::timers::fire_due(&app.state).await;
        let v = get(&app, d["approval"]["id"].as_str().unwrap()).await;
        assert_eq!(v["status"], "approved", "{v:?}");
        assert_eq!(v["votes"][0]["step"], 1);
    }
);

both!(
    a_policy_naming_a_pack_that_does_not_resolve_is_refused,
    |app: App| async move {
        let r = setup(
            &app,
            json!([{"approvers": [{"pack": {"name": "no-such-pack"}}], "sla": "1h"}]),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json);
        assert_eq!(r.json["field"], "policies.p.steps[0].approvers[0].pack");
        let r = setup_again(&app).await;
        assert_eq!(
            r.status,
            StatusCode::NOT_FOUND,
            "nothing was stored: {:?}",
            r.json
        );
    }
);

async fn setup_again(app: &App) -> Resp {
    app.get(
        "/v1/tenants/acme/approval-policy",
        &app.token("acme", &[Role::Operator]),
    )
    .await
}
