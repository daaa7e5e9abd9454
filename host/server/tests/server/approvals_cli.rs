//! `warden approvals` against a listening server: an approver lists what
//! waits, reads one request, approves one and denies another; bad input
//! and refusals come back as errors with the server's detail.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::approval_kit::{one_policy, save};
use crate::harness::*;
use serde_json::json;
use warden_server::auth::Role;
use warden_testkit::both;

async fn warden(args: Vec<String>) -> (u8, String, String) {
    tokio::task::spawn_blocking(move || {
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let mut full = vec!["warden".to_owned()];
        full.extend(args);
        let code = warden_cli::run(full, &mut out, &mut err);
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    })
    .await
    .unwrap()
}

both!(
    an_approver_decides_from_the_command_line,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({})).await;
        save(
            &app,
            0,
            one_policy(json!([{"approvers": [{"group": "finance"}], "sla": "1h"}])),
        )
        .await;
        let rt = app.token("acme", &[Role::Runtime]);
        let mut ids = Vec::new();
        for i in 0..2 {
            let d = app
                .post(
                    "/v1/tenants/acme/evaluate",
                    &rt,
                    &payment("acme", &format!("cli-{i}"), 450_000),
                )
                .await;
            ids.push(d.json["approval"]["id"].as_str().unwrap().to_owned());
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let server = format!("http://{}", listener.local_addr().unwrap());
        let router = app.router.clone();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        let ann = app.token_for("ann", "acme", &[Role::Approver], &["finance"]);
        let args = |rest: &[&str]| {
            let mut v: Vec<String> = rest.iter().map(|s| (*s).to_owned()).collect();
            v.extend([
                "--server".to_owned(),
                server.clone(),
                "--token".to_owned(),
                ann.clone(),
            ]);
            v
        };

        let (code, out, err) = warden(args(&["approvals", "list"])).await;
        assert_eq!(code, 0, "{err}");
        for id in &ids {
            assert!(out.contains(id.as_str()), "{out}");
        }
        assert!(
            out.contains("payments.pay_invoice") && out.contains("450000 EUR"),
            "{out}"
        );
        let (code, out, err) = warden(args(&["approvals", "show", &ids[0]])).await;
        assert_eq!(code, 0, "{err}");
        assert!(
            out.contains("ACME GmbH") && out.contains("approval-threshold"),
            "{out}"
        );
        let (code, out, err) = warden(args(&[
            "approvals",
            "approve",
            &ids[0],
            "--reason",
            "checked",
        ]))
        .await;
        assert_eq!(code, 0, "{err}");
        assert!(out.contains("approved"), "{out}");
        let (code, out, err) = warden(args(&[
            "approvals",
            "deny",
            &ids[1],
            "--reason",
            "unknown vendor",
            "--json",
        ]))
        .await;
        assert_eq!(code, 0, "{err}");
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["status"], "denied");
        let (code, out, _) = warden(args(&["approvals", "list"])).await;
        assert_eq!((code, out.as_str()), (0, "nothing waits for you\n"));

        // Refusals carry the server's detail; bad ids are not sent at all.
        let (code, _, err) = warden(args(&["approvals", "approve", &ids[0]])).await;
        assert_ne!(code, 0);
        assert!(
            err.contains("409") && err.contains("already resolved"),
            "{err}"
        );
        let (code, _, err) = warden(args(&["approvals", "show", "../../v1/tenants"])).await;
        assert_ne!(code, 0);
        assert!(err.contains("not a valid approval id"), "{err}");
        let (code, _, err) = warden(args(&["approvals", "deny", &ids[1]])).await;
        assert_ne!(code, 0, "deny needs --reason: {err}");
    }
);
