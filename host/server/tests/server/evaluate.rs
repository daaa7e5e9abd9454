//! Decisions over HTTP.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::json;
use warden_server::auth::Role;
use warden_testkit::both;

both!(
    decisions_carry_id_explanation_and_serving_versions,
    |app: App| async move {
        // Guardrail packs: they deny or escalate; anything they let through is allowed.
        let allow = json!({"default_effect": "allow"});
        app.tenant_with(
            "acme",
            &["treasury", "pii-strict", "external-tools-untrusted"],
            allow,
        )
        .await;
        let rt = app.token("acme", &[Role::Runtime]);
        let r = app
            .post(
                "/v1/tenants/acme/evaluate",
                &rt,
                &payment("acme", "r1", 450_000),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["verdict"], "escalate", "{:?}", r.json);
        assert_eq!(r.json["routes"], json!(["finance"]));
        assert_eq!(r.json["request_id"], "r1");
        let id = r.json["decision_id"].as_str().unwrap().to_owned();
        assert_eq!(id.len(), 36);
        let serving = r.json["serving"].as_array().unwrap();
        assert_eq!(serving.len(), 3);
        assert_eq!(serving[0]["pack"], "treasury");
        assert!(
            serving[0]["digest"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        assert_eq!(r.json["explanation"]["packs"].as_array().unwrap().len(), 3);
        let r2 = app
            .post(
                "/v1/tenants/acme/evaluate",
                &rt,
                &payment("acme", "r1", 450_000),
            )
            .await;
        assert_ne!(r2.json["decision_id"], r.json["decision_id"]);
        let r = app
            .post(
                "/v1/tenants/acme/evaluate",
                &rt,
                &payment("acme", "r2", 1_000),
            )
            .await;
        assert_eq!(r.json["verdict"], "allow", "{:?}", r.json);
    }
);

both!(
    responses_name_their_configuration_and_carry_settings_on_request,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        let rt = app.token("acme", &[Role::Runtime]);
        let body = payment("acme", "r1", 1_000);
        // By default: each pack's run without its rules' settings (the same
        // for every decision under one configuration), and that configuration's digest.
        let r = app.post("/v1/tenants/acme/evaluate", &rt, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let pack = &r.json["explanation"]["packs"][0];
        assert_eq!(pack["pack"], "treasury");
        assert_eq!(pack["status"], "ok");
        assert!(pack.get("settings").is_none(), "{pack}");
        let digest = r.json["configuration"].as_str().unwrap().to_owned();
        assert!(digest.starts_with("sha256:"), "{digest}");
        // The digest names the configuration event recorded before the decision.
        let auditor = app.token("acme", &[Role::Auditor]);
        let configs = app
            .get("/v1/tenants/acme/trace/events?kind=configuration", &auditor)
            .await;
        let items = configs.json["items"].as_array().unwrap();
        assert!(
            items.iter().any(|e| e["body"]["digest"] == digest.as_str()),
            "{:?}",
            configs.json
        );
        // `explain=full` adds every rule's effective settings and their source.
        let single = app
            .post("/v1/tenants/acme/evaluate?explain=full", &rt, &body)
            .await
            .json;
        let batch = app
            .post(
                "/v1/tenants/acme/evaluate/batch?explain=full",
                &rt,
                &json!({"requests": [body.clone()]}),
            )
            .await
            .json["results"][0]
            .clone();
        for (what, r) in [("one", single), ("batch", batch)] {
            let settings = r["explanation"]["packs"][0]["settings"]
                .as_array()
                .unwrap_or_else(|| panic!("{what}: {r}"));
            let limit = settings
                .iter()
                .find(|s| s["rule"] == "amount-limit")
                .unwrap();
            assert_eq!(limit["enabled"], true);
            assert_eq!(limit["param_sources"]["max"], "defaults");
            assert_eq!(r["configuration"], digest.as_str());
        }
        let r = app
            .post("/v1/tenants/acme/evaluate?explain=everything", &rt, &body)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.json);
        assert!(r.detail().contains("explain"), "{}", r.detail());
    }
);

both!(
    batches_keep_order_and_isolate_bad_items,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        let rt = app.token("acme", &[Role::Runtime]);
        let mut bad = payment("acme", "r2", 1);
        bad["action"]["amount"]["currency"] = json!("eur");
        let body = json!({"requests": [payment("acme", "r1", 1_000), bad, {"id": "r3"}, payment("acme", "r4", 450_000)]});
        let r = app
            .post("/v1/tenants/acme/evaluate/batch", &rt, &body)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let res = r.json["results"].as_array().unwrap();
        assert_eq!(res.len(), 4);
        assert_eq!(res[0]["request_id"], "r1");
        assert_eq!(res[0]["verdict"], "allow");
        assert_eq!(res[1]["error"]["type"], "urn:warden:problem:unprocessable");
        assert!(
            res[1]["error"]["detail"]
                .as_str()
                .unwrap()
                .contains("currency")
        );
        assert_eq!(res[2]["error"]["type"], "urn:warden:problem:invalid-json");
        assert_eq!(res[3]["verdict"], "escalate");
    }
);

both!(
    disabled_and_unconfigured_tenants_get_no_decisions,
    |app: App| async move {
        let admin = app.admin();
        app.post("/v1/tenants", &admin, &json!({"id": "empty"}))
            .await;
        let r = app
            .post(
                "/v1/tenants/empty/evaluate",
                &app.token("empty", &[Role::Runtime]),
                &payment("empty", "r", 1),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert_eq!(r.problem(), "tenant-not-ready");
        app.tenant_with("acme", &["treasury"], json!({})).await;
        let rt = app.token("acme", &[Role::Runtime]);
        assert_eq!(
            app.post("/v1/tenants/acme/evaluate", &rt, &payment("acme", "r", 1))
                .await
                .status,
            StatusCode::OK
        );
        app.patch("/v1/tenants/acme", &admin, &json!({"disabled": true}))
            .await;
        let r = app
            .post("/v1/tenants/acme/evaluate", &rt, &payment("acme", "r", 1))
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT);
        assert!(r.detail().contains("`acme` is disabled"));
        app.patch("/v1/tenants/acme", &admin, &json!({"disabled": false}))
            .await;
        assert_eq!(
            app.post("/v1/tenants/acme/evaluate", &rt, &payment("acme", "r", 1))
                .await
                .status,
            StatusCode::OK
        );
        let r = app
            .post(
                "/v1/tenants/ghost/evaluate",
                &admin,
                &payment("ghost", "r", 1),
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.detail().contains("`ghost`"));
    }
);

both!(
    every_decision_is_in_the_trace_log_before_it_is_answered,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        let rt = app.token("acme", &[Role::Runtime]);
        let mut ids = Vec::new();
        let mut seqs = Vec::new();
        for i in 0..5 {
            let r = app
                .post(
                    "/v1/tenants/acme/evaluate",
                    &rt,
                    &payment("acme", &format!("r{i}"), 1_000),
                )
                .await;
            seqs.push(r.json["trace_seq"].as_u64().unwrap());
            ids.push(r.json["decision_id"].as_str().unwrap().to_owned());
        }
        // The tenant's creation, its composition and the configuration the
        // decisions were made under come first, then one event per decision.
        let base = seqs[0];
        assert_eq!(seqs, (base..base + 5).collect::<Vec<_>>());
        let body = json!({"requests": [payment("acme", "b1", 1), {"id": "bad"}, payment("acme", "b2", 450_000)]});
        let r = app
            .post("/v1/tenants/acme/evaluate/batch", &rt, &body)
            .await;
        assert_eq!(r.json["results"][0]["trace_seq"], base + 5);
        assert_eq!(r.json["results"][2]["trace_seq"], base + 6);
        let store = app.state.store();
        let rows = store.trace_rows("acme", 0, 100).await.unwrap();
        assert_eq!(rows.len() as u64, base + 6);
        let kinds: Vec<&str> = rows.iter().map(|r| r.kind.as_str()).collect();
        assert_eq!(
            &kinds[..3],
            ["tenant-created", "composition-changed", "configuration"]
        );
        let config: serde_json::Value = serde_json::from_str(&rows[2].event).unwrap();
        let first: serde_json::Value =
            serde_json::from_str(&rows[base as usize - 1].event).unwrap();
        assert_eq!(first["kind"], "decision");
        assert_eq!(first["class"], "financial");
        assert_eq!(first["body"]["decision_id"], ids[0].as_str());
        assert_eq!(first["body"]["request"]["id"], "r0");
        assert_eq!(first["body"]["verdict"], "allow");
        assert_eq!(first["body"]["config"], config["body"]["digest"]);
        assert_eq!(
            config["body"]["config"]["packs"][0]["digest"],
            first["body"]["packs"][0]["digest"]
        );
        // Which version serves each pack, and why, is the configuration's;
        // decisions do not repeat it.
        assert!(first["body"].get("serving").is_none(), "{first}");
        let serving = &config["body"]["config"]["serving"][0];
        assert_eq!(serving["pack"], "treasury");
        assert_eq!(serving["digest"], first["body"]["packs"][0]["digest"]);
        assert!(
            serving["reason"].as_str().unwrap().contains("fleet"),
            "{serving}"
        );
        let last: serde_json::Value = serde_json::from_str(&rows.last().unwrap().event).unwrap();
        assert_eq!(last["body"]["verdict"], "escalate");
        assert!(store.trace_verify("acme").await.unwrap().ok());
        // Other tenants' logs are separate.
        assert!(store.trace_head("beta").await.unwrap().is_none());
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_decision_that_cannot_be_recorded_is_not_returned() {
    let app = App::new(Backend::Sqlite).await;
    app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
        .await;
    let rt = app.token("acme", &[Role::Runtime]);
    assert_eq!(
        app.post("/v1/tenants/acme/evaluate", &rt, &payment("acme", "r", 1))
            .await
            .status,
        StatusCode::OK
    );
    // Make appends fail: the trace table is gone.
    sqlx::query("DROP TABLE trace_events")
        .execute(app.state.store().pool())
        .await
        .unwrap();
    let r = app
        .post("/v1/tenants/acme/evaluate", &rt, &payment("acme", "r", 1))
        .await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{:?}", r.json);
    assert_eq!(r.problem(), "unavailable");
    assert!(r.json.get("verdict").is_none());
}
