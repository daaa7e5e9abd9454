//! The fleet log (`_fleet`: pack uploads, the fleet layer, rollout steps,
//! integrity alarms) has what a tenant's log has: checkpoints signed by the
//! fleet key, on demand and on a schedule, published to the fleet's
//! anchors; reading and verification through the API (fleet admins and
//! `*` auditors) and the CLI; and a rewrite under a signed checkpoint is
//! never signed and is reported by both.

use crate::harness::*;
use crate::integrity::rewrite_log;
use axum::http::StatusCode;
use serde_json::{Value, json};
use warden_server::auth::Role;
use warden_server::keys;
use warden_server::trace::SignedCheckpoint;
use warden_server::trace_log::checkpointer;
use warden_server::trace_log::events::FLEET_LOG;
use warden_server::trace_log::settings::Anchor;

async fn fleet_app(backend: Backend) -> App {
    App::with(backend, |c| {
        c.fleet_trace.anchors = vec![Anchor::File {
            path: "fleet.jsonl".to_owned(),
        }];
    })
    .await
}

/// Changes the fleet layer: one `fleet-layer-changed` event in the fleet log.
async fn change_layer(app: &App, max: &str) {
    let admin = app.admin();
    let version = app.get("/v1/fleet/layer", &admin).await.json["version"].clone();
    let layer = json!({"version": version, "layer": {"name": "fleet", "packs": {
        "treasury": {"amount-limit": {"params": {"max": [max]}}}}}});
    let r = app.put("/v1/fleet/layer", &admin, &layer).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
}

async fn cli_verify(app: &App) -> (u8, Value) {
    let (code, out, err) = cli(app, &["trace", "verify", "--tenant", FLEET_LOG]).await;
    let report = serde_json::from_str(&out).unwrap_or_else(|_| panic!("{out}\n{err}"));
    (code, report)
}

async fn the_fleet_log_is_signed_read_and_verified(backend: Backend) {
    let app = fleet_app(backend).await;
    let auditor = app.token("*", &[Role::Auditor]);
    change_layer(&app, "10.00 EUR").await;

    // Readable: the built-in packs' uploads, then the layer change.
    let r = app.get("/v1/fleet/trace/events", &auditor).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let kinds: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.last(), Some(&"fleet-layer-changed"), "{kinds:?}");
    let r = app
        .get(
            "/v1/fleet/trace/events?kind=pack-uploaded&limit=1",
            &auditor,
        )
        .await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 1, "{:?}", r.json);
    assert!(r.json["next_cursor"].is_string(), "{:?}", r.json);
    // A tenant's auditor (or a `*` runtime) does not read it.
    for t in [
        app.token("acme", &[Role::Auditor]),
        app.token("*", &[Role::Runtime]),
    ] {
        let r = app.get("/v1/fleet/trace/events", &t).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.json);
    }

    // Signed on demand by the fleet key, and published to the anchor.
    let r = app
        .post("/v1/fleet/trace/checkpoint", &auditor, &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let cp: SignedCheckpoint = serde_json::from_value(r.json.clone()).unwrap();
    assert_eq!(cp.checkpoint.tenant, FLEET_LOG);
    assert_eq!(cp.checkpoint.seq, kinds.len() as u64);
    let pem = app.get("/v1/fleet/public-key", &auditor).await.json["pem"]
        .as_str()
        .unwrap()
        .to_owned();
    let key = keys::parse_verifying_key("fleet key", &pem).unwrap();
    assert!(
        cp.verify(&key),
        "the checkpoint does not verify with the fleet key"
    );
    // Not a tenant's key.
    app.tenant_with("acme", &["treasury"], json!({})).await;
    let acme_pem = app
        .get("/v1/tenants/acme/public-key", &app.admin())
        .await
        .json["pem"]
        .clone();
    assert_ne!(acme_pem, json!(pem));
    let anchor = std::fs::read_to_string(app.state.anchor_dir().join("fleet.jsonl")).unwrap();
    let anchored: SignedCheckpoint = serde_json::from_str(anchor.lines().last().unwrap()).unwrap();
    assert_eq!(anchored, cp);
    let latest = app.get("/v1/fleet/trace/checkpoint", &auditor).await;
    assert_eq!(latest.json, r.json);

    // On the schedule too (the fleet's cadence: here the default 1000
    // events or 60 s, so a pass after one more change signs nothing new...
    change_layer(&app, "20.00 EUR").await;
    checkpointer::run_once(&app.state).await.unwrap();
    let store = app.state.store();
    let now = store
        .trace_checkpoint_latest(FLEET_LOG)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(now.checkpoint.seq, cp.checkpoint.seq);
    // ...until it is due).
    let (code, report) = cli_verify(&app).await;
    assert_eq!(code, 0, "{report}");
    let v = app.get("/v1/fleet/trace/verify", &auditor).await;
    assert_eq!(v.status, StatusCode::OK, "{:?}", v.json);
    assert!(v.json["fault"].is_null(), "{:?}", v.json);
    assert_eq!(v.json["last_seq"], cp.checkpoint.seq + 1);

    // A rewrite under the signed checkpoint, then one more change onto the
    // forged head: refused on demand, reported by API and CLI.
    rewrite_log(&app, FLEET_LOG, cp.checkpoint.seq).await;
    change_layer(&app, "30.00 EUR").await;
    let r = app
        .post("/v1/fleet/trace/checkpoint", &auditor, &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
    assert_eq!(r.problem(), "log-does-not-verify", "{:?}", r.json);
    let v = app.get("/v1/fleet/trace/verify", &auditor).await;
    assert_eq!(v.json["fault"]["seq"], cp.checkpoint.seq, "{:?}", v.json);
    let (code, report) = cli_verify(&app).await;
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["fault"]["seq"], cp.checkpoint.seq, "{report}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_log_is_signed_read_and_verified_sqlite() {
    the_fleet_log_is_signed_read_and_verified(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_log_is_signed_read_and_verified_postgres() {
    the_fleet_log_is_signed_read_and_verified(Backend::Postgres).await;
}

/// The schedule checkpoints the fleet log at the fleet's cadence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_fleet_log_is_checkpointed_on_its_schedule() {
    let app = App::with(Backend::Sqlite, |c| {
        c.fleet_trace.checkpoint_every_events = 2;
    })
    .await;
    let store = app.state.store();
    // The built-in packs' three uploads are due at once.
    checkpointer::run_once(&app.state).await.unwrap();
    let first = store
        .trace_checkpoint_latest(FLEET_LOG)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.checkpoint.seq, 3);
    change_layer(&app, "10.00 EUR").await;
    checkpointer::run_once(&app.state).await.unwrap();
    let same = store
        .trace_checkpoint_latest(FLEET_LOG)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(same.checkpoint.seq, 3, "one event is not yet due");
    change_layer(&app, "20.00 EUR").await;
    checkpointer::run_once(&app.state).await.unwrap();
    let next = store
        .trace_checkpoint_latest(FLEET_LOG)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(next.checkpoint.seq, 5);
}

/// A log that cannot be signed (here: the fleet key cannot be opened, as
/// after a wrong master key) keeps no other log from its checkpoints.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_log_that_cannot_be_signed_does_not_stop_the_others() {
    let app = App::new(Backend::Sqlite).await;
    let store = app.state.store();
    sqlx::query(
        "INSERT INTO fleet_key (id, public_key, secret_key, created_ms) VALUES (1, $1, $2, 0)",
    )
    .bind(vec![0u8; 32])
    .bind(vec![1u8; 60])
    .execute(store.pool())
    .await
    .unwrap();
    app.tenant_with("acme", &["treasury"], json!({})).await;
    let r = app
        .post("/v1/fleet/trace/checkpoint", &app.admin(), &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{:?}", r.json);
    // acme is due by time (no checkpoint yet); the fleet log fails.
    assert_eq!(checkpointer::run_once(&app.state).await.unwrap(), 1);
    assert!(
        store
            .trace_checkpoint_latest("acme")
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        store
            .trace_checkpoint_latest(FLEET_LOG)
            .await
            .unwrap()
            .is_none()
    );
}
