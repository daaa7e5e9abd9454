//! Approval notifications: signed POSTs to a policy's webhooks on request,
//! step change and resolution, retried after a failure, and never on a
//! decision's path.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::approval_kit::{self, save};
use crate::harness::*;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use warden_server::approvals::webhooks;
use warden_server::auth::Role;
use warden_testkit::both;

/// What the receiver got: headers and body of each POST.
type Got = Arc<Mutex<Vec<(HeaderMap, String)>>>;

/// A webhook receiver on a free port that answers 500 to its first
/// `fail_first` POSTs and 200 after; its URL and what it got.
async fn receiver(fail_first: usize) -> (String, Got) {
    let got: Got = Arc::default();
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let mut g = seen.lock().unwrap();
                g.push((headers, body));
                if g.len() <= fail_first {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/hook"), got)
}

async fn setup(app: &App, hooks: &[&str], sla: &str) {
    app.tenant_with("acme", &["treasury"], json!({})).await;
    let webhooks: Vec<Value> = hooks.iter().map(|u| json!({ "url": u })).collect();
    save(
        app,
        0,
        json!({"default_policy": "p", "policies": {"p": {
                "webhooks": webhooks,
                "steps": [{"approvers": [{"user": "alice"}], "sla": sla, "on_timeout": "next"},
                          {"approvers": [{"user": "bob"}], "sla": "1h"}]}}}),
    )
    .await;
}

fn verify(secret: &[u8], headers: &HeaderMap, body: &str) -> bool {
    let sig = headers["warden-signature"].to_str().unwrap();
    let t: u64 = sig
        .strip_prefix("t=")
        .and_then(|s| s.split(',').next())
        .unwrap()
        .parse()
        .unwrap();
    webhooks::sign(secret, t, body) == sig
}

both!(
    notifications_are_signed_retried_and_cover_the_lifecycle,
    |app: App| async move {
        let (url, got) = receiver(1).await;
        setup(&app, &[&url], "1s").await;
        let op = app.token("acme", &[Role::Operator]);
        let r = app
            .get("/v1/tenants/acme/approval-policy/webhook-secret", &op)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let secret = hex::decode(r.json["secret"].as_str().unwrap()).unwrap();
        let rt = app.token("acme", &[Role::Runtime]);
        let d = app
            .post(
                "/v1/tenants/acme/evaluate",
                &rt,
                &payment("acme", "hook-1", 450_000),
            )
            .await;
        let id = d.json["approval"]["id"].as_str().unwrap().to_owned();

        // First attempt answered 500: nothing delivered, retried after 1 s.
        assert_eq!(webhooks::deliver_due(&app.state).await, 0);
        assert_eq!(
            webhooks::deliver_due(&app.state).await,
            0,
            "not due again yet"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // The deadline moves the request to bob's step; then bob approves.
        warden_server::approvals::timers::fire_due(&app.state).await;
        let bob = app.token_for("bob", "acme", &[Role::Approver], &[]);
        let r = approval_kit::vote(&app, &bob, &id, "approve", None).await;
        assert_eq!(r.json["status"], "approved", "{:?}", r.json);
        assert_eq!(webhooks::deliver_due(&app.state).await, 3);

        let got = got.lock().unwrap().clone();
        let mut events: Vec<String> = got
            .iter()
            .map(|(h, _)| h["warden-event"].to_str().unwrap().to_owned())
            .collect();
        // Notifications due together are posted concurrently: no order among them.
        events.sort();
        assert_eq!(
            events,
            [
                "approval.requested",
                "approval.requested",
                "approval.resolved",
                "approval.step"
            ],
            "the first `requested` was retried"
        );
        let requested: Vec<&HeaderMap> = got
            .iter()
            .filter(|(h, _)| h["warden-event"] == "approval.requested")
            .map(|(h, _)| h)
            .collect();
        assert_eq!(
            requested[0]["warden-delivery"], requested[1]["warden-delivery"],
            "a retry is the same delivery"
        );
        for (headers, body) in &got {
            assert!(verify(&secret, headers, body), "signature verifies: {body}");
            assert!(!verify(b"another secret", headers, body));
            let v: Value = serde_json::from_str(body).unwrap();
            assert_eq!(v["approval"]["id"], id);
            assert_eq!(v["tenant"], "acme");
        }
        let resolved = &got
            .iter()
            .find(|(h, _)| h["warden-event"] == "approval.resolved")
            .unwrap()
            .1;
        let last: Value = serde_json::from_str(resolved).unwrap();
        assert_eq!(last["approval"]["status"], "approved");
        assert_eq!(last["approval"]["amount"]["minor_units"], 450_000);
        let outbox = app.state.store().outbox_of("acme", &id).await.unwrap();
        assert!(outbox.iter().all(|o| o.state == 1), "{outbox:?}");
        assert_eq!(outbox[0].attempts, 2);
    }
);

both!(
    a_dead_webhook_never_delays_a_decision,
    |app: App| async move {
        // One that never answers, and one that refuses connections.
        let stuck = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let stuck_url = format!("http://{}/hook", stuck.local_addr().unwrap());
        let closed = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            format!("http://{}/hook", l.local_addr().unwrap())
        };
        setup(&app, &[&stuck_url, &closed], "1h").await;
        let rt = app.token("acme", &[Role::Runtime]);
        // Deliveries run while decisions are asked for.
        let delivering = {
            let st = app.state.clone();
            tokio::spawn(async move { webhooks::deliver_due(&st).await })
        };
        for i in 0..5 {
            let r = tokio::time::timeout(
                Duration::from_secs(3),
                app.post(
                    "/v1/tenants/acme/evaluate",
                    &rt,
                    &payment("acme", &format!("dead-{i}"), 450_000),
                ),
            )
            .await
            .expect("a decision does not wait for notifications");
            assert_eq!(r.json["verdict"], "escalate", "{:?}", r.json);
            assert!(r.json["approval"]["id"].is_string());
        }
        let _ = delivering.await;
        webhooks::deliver_due(&app.state).await;
        let id = {
            let r = app
                .get(
                    "/v1/tenants/acme/approvals",
                    &app.token("acme", &[Role::Auditor]),
                )
                .await;
            r.json["items"][0]["id"].as_str().unwrap().to_owned()
        };
        let outbox = app.state.store().outbox_of("acme", &id).await.unwrap();
        assert_eq!(outbox.len(), 2);
        for o in &outbox {
            assert_eq!(o.state, 0, "still pending, to be retried: {o:?}");
            assert!(o.last_error.is_some(), "{o:?}");
        }
        drop(stuck);
    }
);
