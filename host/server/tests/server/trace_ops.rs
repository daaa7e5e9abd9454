//! The trace log's operations through the API: signed checkpoints on demand
//! and on a schedule, anchoring to a file and a webhook, masking before
//! storage, and retention that prunes without breaking verification.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::io::BufReader;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use warden_server::auth::Role;
use warden_server::keys;
use warden_server::trace::{Fault, SignedCheckpoint, verify_ndjson, verify_ndjson_held};
use warden_server::trace_log::checkpointer;
use warden_testkit::both;

fn read_only(t: &str, id: &str) -> Value {
    json!({
        "id": id, "tenant": t,
        "principal": {"agent": "reporting-bot"},
        "action": {"tool": "ledger.read", "safety_class": "read-only",
                   "args": {"account": "ACC-1"}}
    })
}

async fn public_key(app: &App, tenant: &str) -> ed25519_dalek::VerifyingKey {
    let r = app
        .get(&format!("/v1/tenants/{tenant}/public-key"), &app.admin())
        .await;
    keys::parse_verifying_key("tenant", r.json["pem"].as_str().unwrap()).unwrap()
}

async fn settings(app: &App, tenant: &str, settings: Value) -> Resp {
    app.patch(
        &format!("/v1/tenants/{tenant}"),
        &app.admin(),
        &json!({ "settings": settings }),
    )
    .await
}

/// The whole stored log as export lines.
async fn export(app: &App, tenant: &str) -> String {
    let rows = app
        .state
        .store()
        .trace_rows(tenant, 0, 1_000_000)
        .await
        .unwrap();
    rows.iter()
        .map(|r| r.to_line(tenant) + "\n")
        .collect::<String>()
}

both!(checkpoints_sign_the_head_on_demand, |app: App| async move {
    app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
        .await;
    let rt = app.token("acme", &[Role::Runtime]);
    let auditor = app.token("acme", &[Role::Auditor]);
    let r = app.get("/v1/tenants/acme/trace/checkpoint", &auditor).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.json);
    for i in 0..3 {
        app.post(
            "/v1/tenants/acme/evaluate",
            &rt,
            &payment("acme", &format!("r{i}"), 100),
        )
        .await;
    }
    let (head_seq, head) = app.state.store().trace_head("acme").await.unwrap().unwrap();
    let r = app
        .post("/v1/tenants/acme/trace/checkpoint", &auditor, &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let cp: SignedCheckpoint = serde_json::from_value(r.json.clone()).unwrap();
    assert_eq!(
        (cp.checkpoint.seq, cp.checkpoint.head.as_str()),
        (head_seq, head.as_str())
    );
    let key = public_key(&app, "acme").await;
    assert!(cp.verify(&key), "the tenant's public key verifies it");
    let other = public_key(&app, "acme").await;
    assert_eq!(key, other);
    // Nothing new: the same checkpoint. The latest is served by GET.
    let again = app
        .post("/v1/tenants/acme/trace/checkpoint", &auditor, &json!({}))
        .await;
    assert_eq!(again.json, r.json);
    assert_eq!(
        app.get("/v1/tenants/acme/trace/checkpoint", &auditor)
            .await
            .json,
        r.json
    );
    // The export verifies offline against it; a forged signature does not.
    let text = export(&app, "acme").await;
    let report = verify_ndjson(BufReader::new(text.as_bytes()), "acme", Some((&cp, &key)));
    assert!(report.ok(), "{report:?}");
    let mut forged = cp.clone();
    forged.checkpoint.seq -= 1;
    let report = verify_ndjson(
        BufReader::new(text.as_bytes()),
        "acme",
        Some((&forged, &key)),
    );
    assert_eq!(report.fault, Some(Fault::BadSignature));
    // Online verification holds the log to its latest checkpoint.
    let v = app.get("/v1/tenants/acme/trace/verify", &auditor).await;
    assert_eq!(v.status, StatusCode::OK);
    assert!(v.json["fault"].is_null(), "{:?}", v.json);
    assert_eq!(v.json["last_seq"], head_seq);
});

both!(
    checkpoints_follow_the_tenant_schedule_and_anchor_to_a_file,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        let r = settings(
            &app,
            "acme",
            json!({"trace": {"checkpoint_every_events": 5, "checkpoint_every_ms": 0,
                             "anchors": [{"type": "file", "path": "acme/checkpoints.ndjson"}]}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let rt = app.token("acme", &[Role::Runtime]);
        let decide = |prefix: &'static str| {
            let (app, rt) = (&app, &rt);
            async move {
                for i in 0..3 {
                    let r = app
                        .post(
                            "/v1/tenants/acme/evaluate",
                            rt,
                            &payment("acme", &format!("{prefix}{i}"), 100),
                        )
                        .await;
                    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
                }
            }
        };
        // Creation, composition, settings, configuration, 3 decisions: due.
        // (The fleet log, which holds the built-in packs' uploads and has no
        // checkpoint yet, is due too: two checkpoints.)
        decide("a").await;
        assert_eq!(checkpointer::run_once(&app.state).await.unwrap(), 2);
        let store = app.state.store();
        let s0 = store
            .trace_checkpoint_latest("acme")
            .await
            .unwrap()
            .unwrap()
            .checkpoint
            .seq;
        assert_eq!(s0, store.trace_head("acme").await.unwrap().unwrap().0);
        // 3 more: fewer than 5 since the checkpoint, not due.
        decide("b").await;
        assert_eq!(checkpointer::run_once(&app.state).await.unwrap(), 0);
        decide("c").await;
        assert_eq!(checkpointer::run_once(&app.state).await.unwrap(), 1);
        let latest = store
            .trace_checkpoint_latest("acme")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(latest.checkpoint.seq, s0 + 6);
        // Both checkpoints went to the anchor file, one JSON line each.
        let file = app.data.path().join("anchors/acme/checkpoints.ndjson");
        let text = std::fs::read_to_string(&file).unwrap();
        let anchored: Vec<SignedCheckpoint> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(anchored.len(), 2);
        assert_eq!(anchored[0].checkpoint.seq, s0);
        assert_eq!(anchored[1], latest);
        // The log verifies against every anchored checkpoint; a database
        // whose head was rewritten does not.
        let key = public_key(&app, "acme").await;
        let log = export(&app, "acme").await;
        let report = verify_ndjson_held(
            BufReader::new(log.as_bytes()),
            "acme",
            &anchored,
            Some(&key),
        );
        assert!(report.ok(), "{report:?}");
        sqlx::query("UPDATE trace_events SET hash = $1 WHERE tenant = 'acme' AND seq = $2")
            .bind("00".repeat(32))
            .bind(s0 as i64)
            .execute(store.pool())
            .await
            .unwrap();
        let report = store
            .trace_verify_against("acme", &anchored, Some(&key))
            .await
            .unwrap();
        assert_eq!(
            report.fault.as_ref().and_then(Fault::seq),
            Some(s0),
            "{report:?}"
        );
    }
);

/// Accepts one HTTP request, answers 200, and returns its body.
async fn one_webhook_call(listener: tokio::net::TcpListener) -> String {
    let (mut sock, _) = listener.accept().await.unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = sock.read(&mut chunk).await.unwrap();
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len: usize = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                sock.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                    .await
                    .unwrap();
                return String::from_utf8_lossy(&buf[end + 4..end + 4 + len]).to_string();
            }
        }
        if n == 0 {
            panic!("the webhook request ended early");
        }
    }
}

both!(checkpoints_are_posted_to_a_webhook, |app: App| async move {
    app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
        .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/anchor", listener.local_addr().unwrap());
    let call = tokio::spawn(one_webhook_call(listener));
    let r = settings(
        &app,
        "acme",
        json!({"trace": {"anchors": [{"type": "webhook", "url": url}]}}),
    )
    .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let op = app.token("acme", &[Role::Operator]);
    let r = app
        .post("/v1/tenants/acme/trace/checkpoint", &op, &json!({}))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let body = tokio::time::timeout(std::time::Duration::from_secs(10), call)
        .await
        .expect("the webhook was called")
        .unwrap();
    let posted: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(posted, r.json);
});

both!(
    a_pack_quoting_a_masked_value_does_not_store_it,
    |app: App| async move {
        app.tenant_with(
            "acme",
            &["external-tools-untrusted"],
            json!({"default_effect": "allow"}),
        )
        .await;
        let r = settings(
            &app,
            "acme",
            json!({"trace": {"masking": [{"pointer": "/args/body", "action": "redact"}]}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let rt = app.token("acme", &[Role::Runtime]);
        let secret = "https://evil.example/reset?token=s3cr3t-t0ken";
        let req = json!({
            "id": "q1", "tenant": "acme",
            "principal": {"agent": "mailer"},
            "action": {"tool": "email.send", "safety_class": "write",
                       "args": {"to": "ops", "body": format!("Reset your password at {secret} today")}}
        });
        let r = app.post("/v1/tenants/acme/evaluate", &rt, &req).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        // The URL rule denies, and tells the caller which host and URL.
        assert_eq!(r.json["verdict"], "deny", "{:?}", r.json);
        let said = r.json["reason"].as_str().unwrap();
        assert!(said.contains("(URL `https://evil.example`"), "{said}");
        // What is stored has neither the body nor the URL the reasons quoted.
        let seq = r.json["trace_seq"].as_u64().unwrap();
        let rows = app
            .state
            .store()
            .trace_rows("acme", seq - 1, 1)
            .await
            .unwrap();
        assert!(!rows[0].event.contains("evil.example"), "{}", rows[0].event);
        let ev: Value = serde_json::from_str(&rows[0].event).unwrap();
        let reason = ev["body"]["reason"].as_str().unwrap();
        assert!(reason.contains("[redacted]"), "{reason}");
        let finding = &ev["body"]["findings"][0];
        assert_eq!(finding["rule"], "url-domain-allowlist");
        assert!(
            finding["reason"]
                .as_str()
                .unwrap()
                .contains("(URL `[redacted]`"),
            "{finding}"
        );
        assert!(app.state.store().trace_verify("acme").await.unwrap().ok());
    }
);

both!(
    masked_fields_are_not_stored_but_decide,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        let r = settings(
            &app,
            "acme",
            json!({"trace": {"masking": [
                {"pointer": "/args/card_number", "action": "redact"},
                {"pointer": "/context/customer/email", "action": "hash"}]}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let rt = app.token("acme", &[Role::Runtime]);
        let mut req = payment("acme", "m1", 450_000);
        req["action"]["args"] = json!({"card_number": "4111 1111 1111 1111", "memo": "rent"});
        req["context"] = json!({"customer": {"email": "jane@example.com"}});
        let r = app.post("/v1/tenants/acme/evaluate", &rt, &req).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        // The decision was made on the real request (a large payment escalates).
        assert_eq!(r.json["verdict"], "escalate");
        let seq = r.json["trace_seq"].as_u64().unwrap();
        let rows = app
            .state
            .store()
            .trace_rows("acme", seq - 1, 1)
            .await
            .unwrap();
        // The whole number: its first digits alone also occur in timestamps.
        assert!(
            !rows[0].event.contains("4111 1111 1111 1111"),
            "{}",
            rows[0].event
        );
        assert!(!rows[0].event.contains("jane@example.com"));
        let ev: Value = serde_json::from_str(&rows[0].event).unwrap();
        let stored = &ev["body"]["request"];
        assert_eq!(stored["action"]["args"]["card_number"], "[redacted]");
        assert_eq!(stored["action"]["args"]["memo"], "rent");
        let email = stored["context"]["customer"]["email"].as_str().unwrap();
        assert!(email.starts_with("hmac-sha256:"), "{email}");
        assert_eq!(ev["body"]["masked"], true);
        // Equal values hash equally within the tenant.
        let mut again = req.clone();
        again["id"] = json!("m2");
        let r2 = app.post("/v1/tenants/acme/evaluate", &rt, &again).await;
        let s2 = r2.json["trace_seq"].as_u64().unwrap();
        let rows = app
            .state
            .store()
            .trace_rows("acme", s2 - 1, 1)
            .await
            .unwrap();
        let ev2: Value = serde_json::from_str(&rows[0].event).unwrap();
        assert_eq!(
            ev2["body"]["request"]["context"]["customer"]["email"],
            email
        );
        assert!(app.state.store().trace_verify("acme").await.unwrap().ok());
        // Bad rules are refused, naming the field.
        let r = settings(
            &app,
            "acme",
            json!({"trace": {"masking": [{"pointer": "/principal/agent", "action": "redact"}]}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.detail().contains("masking[0].pointer"), "{}", r.detail());
        let r = settings(
            &app,
            "acme",
            json!({"trace": {"anchors": [{"type": "file", "path": "/etc/passwd"}]}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(r.detail().contains("anchors[0].path"), "{}", r.detail());
    }
);

both!(
    retention_prunes_expired_events_and_verification_says_so,
    |app: App| async move {
        let app = app;
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        let rt = app.token("acme", &[Role::Runtime]);
        let op = app.token("acme", &[Role::Operator]);
        let auditor = app.token("acme", &[Role::Auditor]);
        for i in 0..4 {
            let r = app
                .post(
                    "/v1/tenants/acme/evaluate",
                    &rt,
                    &read_only("acme", &format!("ro{i}")),
                )
                .await;
            assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
            app.post(
                "/v1/tenants/acme/evaluate",
                &rt,
                &payment("acme", &format!("fin{i}"), 100),
            )
            .await;
        }
        // No policy: nothing to prune.
        let r = app
            .post("/v1/tenants/acme/trace/prune", &op, &json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["pruned"], 0);
        // Read-only decisions expire at once; financial ones are kept for years.
        let r = settings(
            &app,
            "acme",
            json!({"retention": {"read_only_days": 0, "financial_days": 2555}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        // A read-only decision after the settings change but before the prune.
        app.post(
            "/v1/tenants/acme/evaluate",
            &rt,
            &read_only("acme", "ro-late"),
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        // Two prunes at once (two servers' timers): one does the work.
        let empty = json!({});
        let (a, b) = tokio::join!(
            app.post("/v1/tenants/acme/trace/prune", &op, &empty),
            app.post("/v1/tenants/acme/trace/prune", &op, &empty)
        );
        assert_eq!((a.status, b.status), (StatusCode::OK, StatusCode::OK));
        let mut counts = [a.json["pruned"].as_u64(), b.json["pruned"].as_u64()];
        counts.sort();
        assert_eq!(counts, [Some(0), Some(5)], "{:?} {:?}", a.json, b.json);
        let done = if a.json["pruned"] == 5 {
            &a.json
        } else {
            &b.json
        };
        assert_eq!(done["policy"], "financial=2555d,read-only=0d");
        let store = app.state.store();
        let rows = store.trace_rows("acme", 0, 10_000).await.unwrap();
        let pruned: Vec<_> = rows.iter().filter(|r| r.pruned).collect();
        assert_eq!(pruned.len(), 5);
        assert!(
            pruned
                .iter()
                .all(|r| r.event.is_empty() && r.kind == "decision")
        );
        assert_eq!(
            rows.iter().filter(|r| r.kind == "pruning").count(),
            1,
            "one pruning event"
        );
        assert!(
            rows.iter().filter(|r| r.event.contains("\"fin")).count() >= 4,
            "financial decisions are kept"
        );
        // Online and offline verification report pruning, not tampering.
        let v = app.get("/v1/tenants/acme/trace/verify", &auditor).await;
        assert!(v.json["fault"].is_null(), "{:?}", v.json);
        assert_eq!(v.json["pruned"]["events"], 5);
        assert_eq!(v.json["pruned"]["policy"], "financial=2555d,read-only=0d");
        let cp = store
            .trace_checkpoint_latest("acme")
            .await
            .unwrap()
            .unwrap();
        let key = public_key(&app, "acme").await;
        let text = export(&app, "acme").await;
        let report = verify_ndjson(BufReader::new(text.as_bytes()), "acme", Some((&cp, &key)));
        assert!(report.ok(), "{report:?}");
        assert_eq!(report.pruned.as_ref().map(|p| p.events), Some(5));
        // Hiding a kept event as if pruned is tampering, found at once.
        let fin_seq = rows
            .iter()
            .find(|r| r.event.contains("\"fin2\""))
            .unwrap()
            .seq;
        sqlx::query(
            "UPDATE trace_events SET event = '', pruned = 1 WHERE tenant = 'acme' AND seq = $1",
        )
        .bind(fin_seq as i64)
        .execute(store.pool())
        .await
        .unwrap();
        let report = store.trace_verify("acme").await.unwrap();
        assert!(
            matches!(
                report.fault,
                Some(Fault::PruningMismatch {
                    recorded: 5,
                    found: 6,
                    ..
                })
            ),
            "{report:?}"
        );
        let text = export(&app, "acme").await;
        let report = verify_ndjson(BufReader::new(text.as_bytes()), "acme", None);
        assert!(!report.ok(), "{report:?}");
    }
);

both!(
    a_log_with_tombstones_but_no_pruning_event_is_tampered,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        let rt = app.token("acme", &[Role::Runtime]);
        let mut seqs = Vec::new();
        for i in 0..3 {
            let r = app
                .post(
                    "/v1/tenants/acme/evaluate",
                    &rt,
                    &payment("acme", &format!("r{i}"), 100),
                )
                .await;
            seqs.push(r.json["trace_seq"].as_u64().unwrap());
        }
        let store = app.state.store();
        sqlx::query(
            "UPDATE trace_events SET event = '', pruned = 1 WHERE tenant = 'acme' AND seq = $1",
        )
        .bind(seqs[1] as i64)
        .execute(store.pool())
        .await
        .unwrap();
        let report = store.trace_verify("acme").await.unwrap();
        assert_eq!(report.fault, Some(Fault::Unaccounted { seq: seqs[1] }));
    }
);

both!(
    a_tail_rewritten_after_a_checkpoint_is_caught_by_it,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        let rt = app.token("acme", &[Role::Runtime]);
        let auditor = app.token("acme", &[Role::Auditor]);
        for i in 0..6 {
            app.post(
                "/v1/tenants/acme/evaluate",
                &rt,
                &payment("acme", &format!("r{i}"), 100),
            )
            .await;
        }
        let r = app
            .post("/v1/tenants/acme/trace/checkpoint", &auditor, &json!({}))
            .await;
        let head_seq = r.json["checkpoint"]["seq"].as_u64().unwrap();
        // Someone with database access truncates the last three events and
        // appends forgeries with correct hashes and a matching head row.
        crate::integrity::rewrite_from(&app, head_seq - 2).await;
        // Held to the signed checkpoint, it does not.
        let v = app.get("/v1/tenants/acme/trace/verify", &auditor).await;
        assert_eq!(v.json["fault"]["fault"], "head-mismatch", "{:?}", v.json);
        assert_eq!(v.json["fault"]["seq"], head_seq);
    }
);

both!(
    a_sink_that_is_down_does_not_stop_checkpoints,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
            .await;
        // A port nothing listens on (bound, then released).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let r = settings(
            &app,
            "acme",
            json!({"trace": {"anchors": [
                {"type": "webhook", "url": format!("http://127.0.0.1:{port}/down")},
                {"type": "file", "path": "acme.ndjson"}]}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let op = app.token("acme", &[Role::Operator]);
        let r = app
            .post("/v1/tenants/acme/trace/checkpoint", &op, &json!({}))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        let stored = app
            .state
            .store()
            .trace_checkpoint_latest("acme")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(serde_json::to_value(&stored).unwrap(), r.json);
        // The other sink still got it.
        let text = std::fs::read_to_string(app.data.path().join("anchors/acme.ndjson")).unwrap();
        let anchored: SignedCheckpoint = serde_json::from_str(text.trim()).unwrap();
        assert_eq!(anchored, stored);
    }
);
