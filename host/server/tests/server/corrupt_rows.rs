//! A stored document that no longer parses (the database edited by hand)
//! fails only what reads it, as a 500 that tells the caller nothing
//! internal: every other tenant keeps its decisions and its checkpoints,
//! and every other pack its catalog entry.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::json;
use warden_server::auth::Role;
use warden_server::trace_log::checkpointer;
use warden_testkit::both;

fn is_internal(r: &Resp) {
    assert_eq!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{:?}", r.json);
    assert_eq!(r.problem(), "internal");
    assert_eq!(r.detail(), "the server failed to handle this request");
}

async fn corrupt(app: &App, sql: &str, arg: &str) {
    sqlx::query(sql)
        .bind(arg)
        .execute(app.state.store().pool())
        .await
        .unwrap();
}

both!(
    corrupt_documents_fail_only_their_readers,
    |app: App| async move {
        let admin = app.admin();
        // Two tenants whose logs are due for a checkpoint after every event.
        for id in ["acme", "beta"] {
            let settings = json!({"trace": {"checkpoint_every_events": 1}});
            let r = app
                .post(
                    "/v1/tenants",
                    &admin,
                    &json!({"id": id, "settings": settings}),
                )
                .await;
            assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
            let comp = json!({"version": 0, "composition": {"packs": [{"name": "treasury"}]}});
            let r = app
                .put(&format!("/v1/tenants/{id}/composition"), &admin, &comp)
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        }
        corrupt(
            &app,
            "UPDATE tenants SET settings = '{\"trace\":' WHERE id = $1",
            "acme",
        )
        .await;

        // acme's runtime cannot be built; beta's can.
        let acme = app.token("acme", &[Role::Runtime]);
        let r = app
            .post(
                "/v1/tenants/acme/evaluate",
                &acme,
                &payment("acme", "a-1", 100),
            )
            .await;
        is_internal(&r);
        let beta = app.token("beta", &[Role::Runtime]);
        let r = app
            .post(
                "/v1/tenants/beta/evaluate",
                &beta,
                &payment("beta", "b-1", 100),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);

        // The schedule checkpoints beta's log (and the fleet log, due by time
        // with no checkpoint yet); acme's, whose cadence cannot be read, is
        // skipped rather than checkpointed on a guess.
        assert_eq!(checkpointer::run_once(&app.state).await.unwrap(), 2);
        let store = app.state.store();
        assert!(
            store
                .trace_checkpoint_latest("beta")
                .await
                .unwrap()
                .is_some()
        );
        assert!(
            store
                .trace_checkpoint_latest("acme")
                .await
                .unwrap()
                .is_none()
        );

        // A pack whose stored info is corrupt: its catalog entry fails, the
        // others' do not.
        corrupt(
            &app,
            "UPDATE packs SET info = '[' WHERE name = $1",
            "pii-strict",
        )
        .await;
        is_internal(&app.get("/v1/packs/pii-strict", &admin).await);
        assert_eq!(
            app.get("/v1/packs/treasury", &admin).await.status,
            StatusCode::OK
        );

        // The fleet layer: reading it fails; beta's runtime, built before,
        // keeps serving.
        corrupt(
            &app,
            "UPDATE fleet_layer SET layer = $1 WHERE id = 1",
            "{\"name\":",
        )
        .await;
        is_internal(&app.get("/v1/fleet/layer", &admin).await);
        let r = app
            .post(
                "/v1/tenants/beta/evaluate",
                &beta,
                &payment("beta", "b-2", 100),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    }
);
