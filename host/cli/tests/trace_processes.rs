//! The trace log across real `warden serve` processes: two servers and many
//! writers appending to one PostgreSQL chain, and a server killed with
//! SIGKILL in the middle of heavy appending.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use serde_json::{Value, json};
use std::collections::HashMap;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use support::*;
use warden_server::auth::Role;
use warden_store::Store;
use warden_testkit::{PgDb, TestKeys};

/// `(seq, decision_id)` of every stored decision event of `tenant`.
fn stored_decisions(url: &str, tenant: &str) -> HashMap<u64, String> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::connect(url).await.unwrap();
        let rows = store.trace_rows(tenant, 0, 10_000_000).await.unwrap();
        store.close().await;
        rows.into_iter()
            .filter(|r| r.kind == "decision")
            .map(|r| {
                let ev: Value = serde_json::from_str(&r.event).unwrap();
                (
                    r.seq,
                    ev["body"]["decision_id"].as_str().unwrap().to_owned(),
                )
            })
            .collect()
    })
}

/// `warden trace verify` against a database: the JSON report and whether it exited 0.
fn verify(args: &[&str], tenant: &str) -> (bool, Value) {
    let out = Command::new(WARDEN)
        .args(["trace", "verify", "--tenant", tenant])
        .args(args)
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out.status.success(), report)
}

fn setup_tenant(p: &Proc, admin: &str, tenant: &str) {
    let (s, body) = p.call("POST", "/v1/tenants", admin, Some(&json!({"id": tenant})));
    assert_eq!(s, 201, "{body}");
    let comp = json!({"version": 0, "composition": {"packs": [{"name": "treasury"}], "default_effect": "allow"}});
    let (s, body) = p.call(
        "PUT",
        &format!("/v1/tenants/{tenant}/composition"),
        admin,
        Some(&comp),
    );
    assert_eq!(s, 200, "{body}");
}

fn request(tenant: &str, id: &str, minor: i64) -> Value {
    let mut r = payment(id, minor);
    r["tenant"] = json!(tenant);
    r
}

#[test]
fn two_servers_and_many_writers_keep_one_chain_per_tenant() {
    let db = PgDb::create_blocking();
    let k = TestKeys::new();
    let packs = packs_dir();
    let (da, dbd) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = "17".repeat(32);
    let args = |data: &std::path::Path| -> Vec<String> {
        vec![
            "--database-url".into(),
            db.url.clone(),
            "--data-dir".into(),
            data.to_str().unwrap().into(),
            "--jwt-public-key".into(),
            k.issuer_pub.to_str().unwrap().into(),
            "--master-key".into(),
            master.clone(),
            "--builtin-packs".into(),
            packs.path().to_str().unwrap().into(),
        ]
    };
    let (aa, ab) = (args(da.path()), args(dbd.path()));
    let a = Proc::start(&aa.iter().map(String::as_str).collect::<Vec<_>>());
    let b = Proc::start(&ab.iter().map(String::as_str).collect::<Vec<_>>());
    let admin = k.token("*", &[Role::FleetAdmin]);
    let tenants = ["acme", "beta", "gamma", "delta"];
    for t in tenants {
        setup_tenant(&a, &admin, t);
    }
    // 12 writers alternating between the servers: 8 on acme, the rest on the other tenants.
    let acked: Vec<(String, u64, String)> = std::thread::scope(|s| {
        let mut handles = Vec::new();
        for w in 0..12usize {
            let (a, b, k) = (&a, &b, &k);
            handles.push(s.spawn(move || {
                let tenant = if w < 8 {
                    "acme"
                } else {
                    tenants[1 + (w - 8) % 3]
                };
                let rt = k.token(tenant, &[Role::Runtime]);
                let mut acked = Vec::new();
                for i in 0..40 {
                    let server = if (w + i) % 2 == 0 { a } else { b };
                    let r = request(tenant, &format!("w{w}-{i}"), 100 + i as i64);
                    let (s, body) = server.call(
                        "POST",
                        &format!("/v1/tenants/{tenant}/evaluate"),
                        &rt,
                        Some(&r),
                    );
                    assert_eq!(s, 200, "{body}");
                    acked.push((
                        tenant.to_owned(),
                        body["trace_seq"].as_u64().unwrap(),
                        body["decision_id"].as_str().unwrap().to_owned(),
                    ));
                }
                acked
            }));
        }
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    });
    let url = db.url.clone();
    for t in tenants {
        let stored = stored_decisions(&url, t);
        let mine: Vec<_> = acked.iter().filter(|(x, _, _)| x == t).collect();
        assert_eq!(
            stored.len(),
            mine.len(),
            "tenant {t}: no event lost, none extra"
        );
        for (_, seq, id) in &mine {
            assert_eq!(stored.get(seq), Some(id), "tenant {t}: seq {seq}");
        }
        let (ok, report) = verify(&["--database-url", &url], t);
        assert!(ok, "tenant {t}: {report}");
    }
    assert_eq!(acked.iter().filter(|(t, _, _)| t == "acme").count(), 320);
    a.terminate();
    b.terminate();
}

/// Appends as fast as 8 writers can, SIGKILLs the server, restarts it, and
/// checks every acknowledged decision is in a chain that verifies.
fn killed_mid_append_loses_nothing(args: &[String], url: &str, verify_args: &[&str]) {
    let k = TestKeys::new();
    let mut full = args.to_vec();
    full.extend([
        "--jwt-public-key".into(),
        k.issuer_pub.to_str().unwrap().into(),
    ]);
    let argv: Vec<&str> = full.iter().map(String::as_str).collect();
    let mut server = Proc::start(&argv);
    let admin = k.token("*", &[Role::FleetAdmin]);
    setup_tenant(&server, &admin, "acme");
    let rt = k.token("acme", &[Role::Runtime]);
    let stop = Arc::new(AtomicBool::new(false));
    let addr = server.addr.clone();
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (stop, addr, rt) = (stop.clone(), addr.clone(), rt.clone());
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    i += 1;
                    let batch = json!({"requests": (0..20).map(|j| request("acme", &format!("w{w}-{i}-{j}"), 100 + j)).collect::<Vec<_>>()});
                    match try_http(
                        &addr,
                        "POST",
                        "/v1/tenants/acme/evaluate/batch",
                        &rt,
                        Some(&batch),
                    ) {
                        Some((200, body)) => {
                            for r in body["results"].as_array().unwrap() {
                                acked.push((
                                    r["trace_seq"].as_u64().unwrap(),
                                    r["decision_id"].as_str().unwrap().to_owned(),
                                ));
                            }
                        }
                        // The server is gone: whatever was not answered was not acknowledged.
                        _ => break,
                    }
                }
                acked
            })
        })
        .collect();
    std::thread::sleep(Duration::from_millis(1500));
    server.child.kill().unwrap(); // SIGKILL
    server.child.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let acked: Vec<(u64, String)> = writers
        .into_iter()
        .flat_map(|w| w.join().unwrap())
        .collect();
    assert!(acked.len() > 100, "the load ran: {} decisions", acked.len());
    // Restart on the same database: it starts, and the chain verifies.
    let restarted = Proc::start(&argv);
    let stored = stored_decisions(url, "acme");
    for (seq, id) in &acked {
        assert_eq!(
            stored.get(seq),
            Some(id),
            "acknowledged seq {seq} is missing"
        );
    }
    let (ok, report) = verify(verify_args, "acme");
    assert!(ok, "{report}");
    // It keeps appending after the crash.
    let (s, body) = restarted.call(
        "POST",
        "/v1/tenants/acme/evaluate",
        &rt,
        Some(&request("acme", "after", 100)),
    );
    assert_eq!(s, 200, "{body}");
    assert!(body["trace_seq"].as_u64().unwrap() > report["last_seq"].as_u64().unwrap());
    restarted.terminate();
}

#[test]
fn sigkill_during_heavy_appending_on_sqlite_loses_no_acknowledged_decision() {
    let data = tempfile::tempdir().unwrap();
    let packs = packs_dir();
    let d = data.path().to_str().unwrap().to_owned();
    let args = vec![
        "--data-dir".to_owned(),
        d.clone(),
        "--builtin-packs".to_owned(),
        packs.path().to_str().unwrap().to_owned(),
    ];
    let url = format!("sqlite://{d}/warden.db?mode=rw");
    killed_mid_append_loses_nothing(&args, &url, &["--data-dir", &d]);
}

#[test]
fn sigkill_during_heavy_appending_on_postgres_loses_no_acknowledged_decision() {
    let db = PgDb::create_blocking();
    let data = tempfile::tempdir().unwrap();
    let packs = packs_dir();
    let url = db.url.clone();
    let args = vec![
        "--database-url".to_owned(),
        url.clone(),
        "--data-dir".to_owned(),
        data.path().to_str().unwrap().to_owned(),
        "--builtin-packs".to_owned(),
        packs.path().to_str().unwrap().to_owned(),
    ];
    killed_mid_append_loses_nothing(&args, &url, &["--database-url", &url]);
}
