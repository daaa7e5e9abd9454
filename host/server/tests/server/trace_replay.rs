//! Replay and what-if over recorded decisions: a decision re-evaluated
//! under its recorded configuration reproduces (even after the composition
//! changed), a tampered event does not, what-if reports exactly the flips a
//! new pack version or a draft composition makes, and the CLI does the same
//! from the database.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{Value, json};
use warden_server::auth::Role;
use warden_testkit::both;
use warden_testkit::pack_bytes;

/// Decides `minor` EUR cents for `tenant`; the response.
async fn decide(app: &App, tenant: &str, id: &str, minor: i64) -> Value {
    let r = app
        .post(
            &format!("/v1/tenants/{tenant}/evaluate"),
            &app.token(tenant, &[Role::Runtime]),
            &payment(tenant, id, minor),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    r.json
}

async fn replay(app: &App, tenant: &str, body: Value) -> Resp {
    app.post(
        &format!("/v1/tenants/{tenant}/trace/replay"),
        &app.token(tenant, &[Role::Operator]),
        &body,
    )
    .await
}

async fn what_if(app: &App, tenant: &str, body: Value) -> Resp {
    app.post(
        &format!("/v1/tenants/{tenant}/trace/what-if"),
        &app.token(tenant, &[Role::Operator]),
        &body,
    )
    .await
}

/// Rewrites part of a stored event's text, bypassing the chain.
async fn tamper(app: &App, tenant: &str, seq: u64, from: &str, to: &str) {
    let r = sqlx::query(
        "UPDATE trace_events SET event = REPLACE(event, $1, $2) WHERE tenant = $3 AND seq = $4",
    )
    .bind(from)
    .bind(to)
    .bind(tenant)
    .bind(seq as i64)
    .execute(app.state.store().pool())
    .await
    .unwrap();
    assert_eq!(r.rows_affected(), 1);
}

/// Uploads `rollout-demo` 1.0.0 (current) and 2.0.0, composes `acme` of it.
async fn rollout_tenant(app: &App) {
    let admin = app.admin();
    for v in ["rollout-v1", "rollout-v2"] {
        let r = app.upload("/v1/packs", &admin, pack_bytes(v), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    }
    app.tenant_with("acme", &["rollout-demo"], json!({})).await;
}

/// Amounts (EUR cents) decided under 1.0.0 (cap 100000) and whether 2.0.0
/// (cap 10000) flips them from allow to deny.
const AMOUNTS: [(i64, bool); 8] = [
    (5_000, false),
    (10_000, false),
    (10_001, true),
    (50_000, true),
    (99_999, true),
    (100_000, true),
    (100_001, false),
    (2_000_000, false),
];

both!(
    replay_reproduces_recorded_decisions_under_their_configuration,
    |app: App| async move {
        let app = app;
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        let mut recorded = Vec::new();
        for (id, minor, verdict) in [
            ("r-allow", 1_000, "allow"),
            ("r-escalate", 450_000, "escalate"),
            ("r-deny", 2_000_000, "deny"),
        ] {
            let d = decide(&app, "acme", id, minor).await;
            assert_eq!(d["verdict"], verdict, "{d}");
            recorded.push(d);
        }
        for d in &recorded {
            let r = replay(&app, "acme", json!({"decision_id": d["decision_id"]})).await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
            assert_eq!(r.json["reproduced"], true, "{:?}", r.json);
            assert_eq!(r.json["mismatches"], json!([]));
            assert_eq!(r.json["seq"], d["trace_seq"]);
            assert_eq!(r.json["decision_id"], d["decision_id"]);
            assert_eq!(r.json["recorded"]["verdict"], d["verdict"]);
            assert_eq!(r.json["replayed"]["verdict"], d["verdict"]);
            assert_eq!(r.json["replayed"]["routes"], d["routes"]);
            assert_eq!(r.json["replayed"]["reason"], d["reason"]);
            assert_eq!(r.json["masked"], false);
            assert!(r.json.get("note").is_none());
            // The same by sequence number.
            let s = replay(&app, "acme", json!({"seq": d["trace_seq"]})).await;
            assert_eq!(s.status, StatusCode::OK, "{:?}", s.json);
            assert_eq!(s.json, r.json);
        }
        let escalated = &recorded[1];
        assert_eq!(escalated["routes"], json!(["finance"]));

        // A new composition: 4500.00 EUR is now below the threshold.
        let r = app
            .put(
                "/v1/tenants/acme/composition",
                &app.admin(),
                &json!({"version": 1, "composition": {
                    "packs": [{"name": "treasury"}], "default_effect": "allow",
                    "layers": [{"name": "tenant", "packs": {"treasury": {
                        "approval-threshold": {"params": {"threshold": ["9000.00 EUR"]}}}}}]}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let now = decide(&app, "acme", "r-escalate-again", 450_000).await;
        assert_eq!(now["verdict"], "allow", "{now}");
        // The old decision replays under its own configuration, not today's.
        let r = replay(
            &app,
            "acme",
            json!({"decision_id": escalated["decision_id"]}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["reproduced"], true, "{:?}", r.json);
        assert_eq!(r.json["replayed"]["verdict"], "escalate");
        let r2 = replay(&app, "acme", json!({"decision_id": now["decision_id"]})).await;
        assert_eq!(r2.json["reproduced"], true, "{:?}", r2.json);
        assert_eq!(r2.json["replayed"]["verdict"], "allow");
        assert_ne!(r.json["config"], r2.json["config"]);

        // A fleet admin may replay too.
        let r = app
            .post(
                "/v1/tenants/acme/trace/replay",
                &app.admin(),
                &json!({"seq": recorded[0]["trace_seq"]}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    }
);

both!(
    a_tampered_decision_event_does_not_reproduce,
    |app: App| async move {
        let app = app;
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        let d = decide(&app, "acme", "r-1", 1_000).await;
        assert_eq!(d["verdict"], "allow");
        let seq = d["trace_seq"].as_u64().unwrap();
        tamper(
            &app,
            "acme",
            seq,
            "\"verdict\":\"allow\"",
            "\"verdict\":\"deny\"",
        )
        .await;
        let r = replay(&app, "acme", json!({"seq": seq})).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["reproduced"], false, "{:?}", r.json);
        assert_eq!(r.json["recorded"]["verdict"], "deny");
        assert_eq!(r.json["replayed"]["verdict"], "allow");
        assert_eq!(
            r.json["mismatches"],
            json!([{"field": "verdict", "recorded": "deny", "replayed": "allow"}])
        );
        // The chain catches the same edit.
        assert!(!app.state.store().trace_verify("acme").await.unwrap().ok());

        // A masked request that does not reproduce says masking may be why.
        let r = app
            .patch(
                "/v1/tenants/acme",
                &app.admin(),
                &json!({"settings": {"trace": {"masking": [
                    {"pointer": "/args/invoice", "action": "redact"}]}}}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let mut req = payment("acme", "r-2", 1_000);
        req["action"]["args"] = json!({"invoice": "INV-7"});
        let m = app
            .post(
                "/v1/tenants/acme/evaluate",
                &app.token("acme", &[Role::Runtime]),
                &req,
            )
            .await;
        assert_eq!(m.status, StatusCode::OK, "{:?}", m.json);
        let seq = m.json["trace_seq"].as_u64().unwrap();
        let r = replay(&app, "acme", json!({"seq": seq})).await;
        assert_eq!(r.json["reproduced"], true, "{:?}", r.json);
        assert_eq!(r.json["masked"], true);
        assert!(r.json.get("note").is_none());
        tamper(
            &app,
            "acme",
            seq,
            "\"verdict\":\"allow\"",
            "\"verdict\":\"deny\"",
        )
        .await;
        let r = replay(&app, "acme", json!({"seq": seq})).await;
        assert_eq!(r.json["reproduced"], false, "{:?}", r.json);
        assert!(
            r.json["note"]
                .as_str()
                .unwrap()
                .contains("masking may be why"),
            "{:?}",
            r.json
        );
    }
);

both!(replay_errors_name_what_is_wrong, |app: App| async move {
    let app = app;
    app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
        .await;
    let d = decide(&app, "acme", "r-1", 1_000).await;
    let seq = d["trace_seq"].as_u64().unwrap();
    let r = replay(&app, "acme", json!({"decision_id": "nope"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.json);
    assert!(r.detail().contains("`nope`"), "{}", r.detail());
    let r = replay(&app, "acme", json!({"seq": 999_999})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.json);
    // Sequence number 1 is the tenant's creation.
    let r = replay(&app, "acme", json!({"seq": 1})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json);
    assert!(r.detail().contains("`tenant-created`"), "{}", r.detail());
    let r = replay(&app, "acme", json!({"seq": seq, "decision_id": "x"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json);
    let r = replay(&app, "acme", json!({})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json);
    let r = replay(&app, "acme", json!({"sequence": 3})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.json);
    let r = app
        .post(
            "/v1/tenants/ghost/trace/replay",
            &app.admin(),
            &json!({"seq": 1}),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.json);

    // The configuration it names is gone: a conflict naming the digest.
    let pool = app.state.store().pool();
    let config = replay(&app, "acme", json!({"seq": seq})).await.json["config"]
        .as_str()
        .unwrap()
        .to_owned();
    sqlx::query("DELETE FROM trace_configs WHERE tenant = 'acme'")
        .execute(pool)
        .await
        .unwrap();
    let r = replay(&app, "acme", json!({"seq": seq})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
    assert!(r.detail().contains(&config), "{}", r.detail());

    // Pruned by retention: a tombstone has nothing to replay.
    sqlx::query(
        "UPDATE trace_events SET event = '', pruned = 1 WHERE tenant = 'acme' AND seq = $1",
    )
    .bind(seq as i64)
    .execute(pool)
    .await
    .unwrap();
    let r = replay(&app, "acme", json!({"decision_id": d["decision_id"]})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json);
    assert!(r.detail().contains("pruned"), "{}", r.detail());
});

both!(
    what_if_reports_exactly_the_flips_of_a_new_version,
    |app: App| async move {
        let app = app;
        rollout_tenant(&app).await;
        let mut seqs = Vec::new();
        for (minor, _) in AMOUNTS {
            let d = decide(&app, "acme", &format!("r-{minor}"), minor).await;
            assert_eq!(d["serving"][0]["version"], "1.0.0");
            seqs.push(d["trace_seq"].as_u64().unwrap());
        }
        let expected: Vec<String> = AMOUNTS
            .iter()
            .filter(|(_, flips)| *flips)
            .map(|(m, _)| format!("r-{m}"))
            .collect();
        let flipped = |r: &Resp| -> Vec<String> {
            r.json["flips"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["request_id"].as_str().unwrap().to_owned())
                .collect()
        };

        let r = what_if(
            &app,
            "acme",
            json!({"candidate": {"pack": "rollout-demo", "version": "2.0.0"}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["evaluated"], AMOUNTS.len());
        assert_eq!(r.json["changed"], expected.len());
        assert_eq!(flipped(&r), expected);
        assert_eq!(r.json["by_transition"], json!({"allow->deny": 4}));
        assert_eq!(r.json["baseline"], json!({"1.0.0": 8}));
        assert_eq!(r.json["unaffected"], 0);
        let f = &r.json["flips"][0];
        assert_eq!(f["before"]["verdict"], "allow");
        assert_eq!(f["after"]["verdict"], "deny");
        assert!(
            f["after"]["reason"].as_str().unwrap().contains("10000"),
            "{f}"
        );
        assert_eq!(f["after"]["findings"][0]["version"], "2.0.0");
        assert!(r.json.get("next_seq").is_none());

        // A window: only the decisions in range, and where to continue.
        let r = what_if(
            &app,
            "acme",
            json!({"from_seq": seqs[1], "to_seq": seqs[6], "limit": 3,
                   "candidate": {"pack": "rollout-demo", "version": "2.0.0"}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["evaluated"], 3);
        assert_eq!(flipped(&r), ["r-10001", "r-50000"]);
        assert_eq!(r.json["next_seq"], seqs[3] + 1);

        // The version the decisions were made under changes nothing.
        let r = what_if(
            &app,
            "acme",
            json!({"candidate": {"pack": "rollout-demo", "version": "1.0.0", "source": "fleet"}}),
        )
        .await;
        assert_eq!(r.json["changed"], 0, "{:?}", r.json);
        assert_eq!(r.json["flips"], json!([]));
        assert_eq!(r.json["by_transition"], json!({}));

        // A pack the configuration does not use cannot change anything.
        let r = what_if(
            &app,
            "acme",
            json!({"candidate": {"pack": "treasury", "version": "1.0.0"}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["evaluated"], 0);
        assert_eq!(r.json["unaffected"], AMOUNTS.len());
    }
);

both!(what_if_with_a_draft_composition, |app: App| async move {
    let app = app;
    rollout_tenant(&app).await;
    for (minor, _) in AMOUNTS {
        decide(&app, "acme", &format!("r-{minor}"), minor).await;
    }
    // 2.0.0 pinned by the draft: the same four flips.
    let r = what_if(
        &app,
        "acme",
        json!({"candidate": {"composition": {"packs": [{"name": "rollout-demo", "version": "=2.0.0"}]}}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["candidate"], "draft composition");
    assert_eq!(r.json["changed"], 4, "{:?}", r.json);
    // 1.0.0 with a tenant layer lowering the cap to 500.00: two flips.
    let r = what_if(
        &app,
        "acme",
        json!({"candidate": {"composition": {
            "packs": [{"name": "rollout-demo", "version": "^1"}],
            "layers": [{"name": "tenant", "packs": {"rollout-demo": {
                "payment-cap": {"params": {"cap": 50000}}}}}]}}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let ids: Vec<&str> = r.json["flips"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["request_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["r-99999", "r-100000"]);
    // The tenant's own composition is untouched.
    let d = decide(&app, "acme", "r-after", 99_999).await;
    assert_eq!(d["verdict"], "allow");

    // Errors.
    let r = what_if(
        &app,
        "acme",
        json!({"candidate": {"pack": "rollout-demo", "version": "9.9.9"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json);
    assert!(
        r.detail().contains("`rollout-demo@9.9.9`"),
        "{}",
        r.detail()
    );
    let r = what_if(
        &app,
        "acme",
        json!({"limit": 10_001, "candidate": {"pack": "rollout-demo", "version": "2.0.0"}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json);
    let r = what_if(
        &app,
        "acme",
        json!({"candidate": {"pack": "rollout-demo", "version": "2.0.0", "composition": {}}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json);
    let r = what_if(
        &app,
        "acme",
        json!({"candidate": {"composition": {"packs": [{"name": "nope"}]}}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json);
    assert!(r.detail().contains("`nope`"), "{}", r.detail());
});

both!(cli_replay_what_if_and_traffic_diff, |app: App| async move {
    let app = app;
    rollout_tenant(&app).await;
    let mut ids = Vec::new();
    for (minor, _) in AMOUNTS {
        let d = decide(&app, "acme", &format!("r-{minor}"), minor).await;
        ids.push((
            d["decision_id"].as_str().unwrap().to_owned(),
            d["trace_seq"].as_u64().unwrap(),
        ));
    }
    let (id, seq) = &ids[3];
    let (code, out, err) = cli(
        &app,
        &["trace", "replay", "--tenant", "acme", "--decision-id", id],
    )
    .await;
    assert_eq!(code, 0, "{out}{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["reproduced"], true);
    assert_eq!(j["seq"], *seq);

    // A tampered event: exit 1.
    tamper(
        &app,
        "acme",
        *seq,
        "\"verdict\":\"allow\"",
        "\"verdict\":\"escalate\"",
    )
    .await;
    let s = seq.to_string();
    let (code, out, err) = cli(&app, &["trace", "replay", "--tenant", "acme", "--seq", &s]).await;
    assert_eq!(code, 1, "{out}{err}");
    assert!(out.contains("\"reproduced\": false"), "{out}");
    let (code, _, err) = cli(&app, &["trace", "replay", "--tenant", "acme", "--seq", "1"]).await;
    assert_eq!(code, 3);
    assert!(err.contains("`tenant-created`"), "{err}");

    let (code, out, err) = cli(
        &app,
        &[
            "trace",
            "what-if",
            "--tenant",
            "acme",
            "--pack",
            "rollout-demo",
            "--version",
            "2.0.0",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    // The tampered event now reads `escalate`, so its flip is escalate->deny.
    assert_eq!(j["changed"], 4, "{j}");
    assert_eq!(
        j["by_transition"],
        json!({"allow->deny": 3, "escalate->deny": 1})
    );

    let (code, out, err) = cli(
        &app,
        &[
            "pack",
            "diff",
            "rollout-demo@1.0.0",
            "rollout-demo@2.0.0",
            "--traffic",
            "acme",
            "--last",
            "5",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("cap: 100000 -> 10000"), "{out}");
    assert!(
        out.contains("over the last 5 decisions of tenant `acme`"),
        "{out}"
    );
    // The last five: 50000 (tampered), 99999, 100000, 100001, 2000000.
    assert!(out.contains("3 verdict changes"), "{out}");
    assert!(out.contains("request r-99999: allow -> deny"), "{out}");
    let (code, out, err) = cli(
        &app,
        &[
            "pack",
            "diff",
            "rollout-demo@1.0.0",
            "rollout-demo@2.0.0",
            "--traffic",
            "acme",
            "--json",
        ],
    )
    .await;
    assert_eq!(code, 0, "{err}");
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["rules_changed"][0]["id"], "payment-cap");
    assert_eq!(j["traffic"]["changed"], 4, "{j}");
    assert_eq!(j["traffic"]["baseline"], json!({"1.0.0": 8}));
    let (code, _, err) = cli(
        &app,
        &[
            "pack",
            "diff",
            "rollout-demo@1.0.0",
            "treasury@1.0.0",
            "--traffic",
            "acme",
        ],
    )
    .await;
    assert_eq!(code, 3);
    assert!(err.contains("two versions of one pack"), "{err}");
});
