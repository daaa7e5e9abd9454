//! Approvals across servers on one PostgreSQL database: each deadline fires
//! exactly once however many servers look, a server that starts later
//! (a restart) fires what is due, a waiter on one server is woken by a vote
//! on another, and a vote cancelled at any point counted once or not at all.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::approval_kit::{self, save};
use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use warden_server::approvals::{feed, service, timers};
use warden_server::auth::Role;

/// A second server on `app`'s database, with its master key (its data
/// directory), as replicas are deployed.
async fn replica(app: &App) -> App {
    let url = app.pg.as_ref().unwrap().url.clone();
    let dir = app.data.path().to_path_buf();
    App::with(Backend::Postgres, |c| {
        c.database_url = Some(url);
        c.data_dir = dir;
    })
    .await
}

async fn setup(app: &App, sla: &str, quorum: u32) {
    app.tenant_with("acme", &["treasury"], json!({})).await;
    save(
        app,
        0,
        json!({"default_policy": "p", "policies": {"p": {
                "steps": [{"approvers": [{"group": "finance"}], "quorum": quorum, "sla": sla}]}}}),
    )
    .await;
}

/// `n` escalations in one batch (one transaction); their approval ids.
async fn escalate_batch(app: &App, prefix: &str, n: usize) -> Vec<String> {
    let rt = app.token("acme", &[Role::Runtime]);
    let requests: Vec<Value> = (0..n)
        .map(|i| payment("acme", &format!("{prefix}-{i}"), 450_000))
        .collect();
    let r = app
        .post(
            "/v1/tenants/acme/evaluate/batch",
            &rt,
            &json!({ "requests": requests }),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    r.json["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["approval"]["id"].as_str().unwrap().to_owned())
        .collect()
}

/// How many events of `kind` `acme`'s log holds.
async fn events_of(app: &App, kind: &str) -> usize {
    let r = app
        .get(
            &format!("/v1/tenants/acme/trace/events?kind={kind}&limit=500"),
            &app.token("acme", &[Role::Auditor]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    r.json["items"].as_array().unwrap().len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deadlines_fire_exactly_once_across_servers_and_restarts() {
    let one = App::new(Backend::Postgres).await;
    let two = replica(&one).await;
    setup(&one, "1s", 1).await;
    let ids = escalate_batch(&one, "fleet", 60).await;
    assert_eq!(ids.len(), 60);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // Both servers (and a second look by each) race for the same deadlines.
    let (a, b, c, d) = tokio::join!(
        timers::fire_due(&one.state),
        timers::fire_due(&two.state),
        timers::fire_due(&one.state),
        timers::fire_due(&two.state),
    );
    assert_eq!(a + b + c + d, 60, "fired: {a} {b} {c} {d}");
    assert_eq!(events_of(&one, "approval-timed-out").await, 60);
    assert_eq!(events_of(&one, "approval-resolved").await, 60);

    // Requests left pending when their server stops: a server started later
    // (nothing in memory) fires them.
    let pending = escalate_batch(&two, "restart", 10).await;
    drop(two);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let three = replica(&one).await;
    assert_eq!(timers::fire_due(&three.state).await, 10);
    let (r, _) = service::get(&three.state, "acme", &pending[0])
        .await
        .unwrap();
    assert_eq!(r.status.as_str(), "timed-out");
    assert_eq!(events_of(&one, "approval-resolved").await, 70);
    let verify = one
        .get(
            "/v1/tenants/acme/trace/verify",
            &one.token("acme", &[Role::Auditor]),
        )
        .await;
    assert!(verify.json["fault"].is_null(), "{:?}", verify.json);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_waiter_on_one_server_is_woken_by_a_vote_on_another() {
    let one = App::new(Backend::Postgres).await;
    let two = replica(&one).await;
    setup(&one, "1h", 1).await;
    let feed = tokio::spawn(feed::listen(two.state.clone()));
    let id = escalate_batch(&one, "wake", 1).await.remove(0);
    // Resumable: a first wait ends pending at its bound, a second is woken.
    let r = service::wait(&two.state, "acme", &id, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(r.status.as_str(), "pending");
    let waiter = {
        let (state, id) = (two.state.clone(), id.clone());
        tokio::spawn(async move {
            service::wait(&state, "acme", &id, Duration::from_secs(30))
                .await
                .unwrap()
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let ann = one.token_for("ann", "acme", &[Role::Approver], &["finance"]);
    let r = approval_kit::vote(&one, &ann, &id, "approve", None).await;
    assert_eq!(r.json["status"], "approved", "{:?}", r.json);
    let woken = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("woken through LISTEN/NOTIFY, not by its 30 s bound")
        .unwrap();
    assert_eq!(woken.status.as_str(), "approved");
    feed.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_vote_cancelled_midway_counts_once_or_not_at_all() {
    let app = App::new(Backend::Postgres).await;
    setup(&app, "1h", 100).await;
    let id = escalate_batch(&app, "cancel", 1).await.remove(0);
    // Votes dropped at different points of their way through the store.
    for i in 0..30u64 {
        let voter = app.token_for(&format!("m{i}"), "acme", &[Role::Approver], &["finance"]);
        let (mut router, id) = (app.router.clone(), id.clone());
        let job = tokio::spawn(async move {
            let req = axum::http::Request::post(format!("/v1/tenants/acme/approvals/{id}/votes"))
                .header("authorization", format!("Bearer {voter}"))
                .header("content-type", "application/json")
                .body(axum::body::Body::from(r#"{"choice":"approve"}"#))
                .unwrap();
            tower_service::Service::call(&mut router, req).await
        });
        tokio::time::sleep(Duration::from_micros(i * 150)).await;
        job.abort();
        let _ = job.await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let (r, _) = service::get(&app.state, "acme", &id).await.unwrap();
    let votes = r.votes.len();
    assert_eq!(
        events_of(&app, "approval-vote").await,
        votes,
        "every stored vote has its event and no event lacks its vote"
    );
    let mut voters: Vec<&str> = r.votes.iter().map(|v| v.voter.as_str()).collect();
    voters.sort_unstable();
    voters.dedup();
    assert_eq!(voters.len(), votes);
}
