//! `warden serve` as real processes: first start on the embedded default,
//! two servers on one PostgreSQL, graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;
use warden_testkit::{PgDb, TestKeys};

use serde_json::{Value, json};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use warden_server::auth::Role;

/// A server on its embedded default that trusts `k`'s tokens, with tenant
/// `acme` created and composed as `composition`; the directories it runs on
/// (data, built-in packs) must outlive it.
fn server_with_acme(k: &TestKeys, composition: Value) -> (Proc, [tempfile::TempDir; 2]) {
    let data = tempfile::tempdir().unwrap();
    let packs = packs_dir();
    let server = Proc::start(&[
        "--data-dir",
        data.path().to_str().unwrap(),
        "--jwt-public-key",
        k.issuer_pub.to_str().unwrap(),
        "--builtin-packs",
        packs.path().to_str().unwrap(),
    ]);
    let admin = k.token("*", &[Role::FleetAdmin]);
    let (s, body) = server.call("POST", "/v1/tenants", &admin, Some(&json!({"id": "acme"})));
    assert_eq!(s, 201, "{body}");
    let comp = json!({"version": 0, "composition": composition});
    let (s, body) = server.call("PUT", "/v1/tenants/acme/composition", &admin, Some(&comp));
    assert_eq!(s, 200, "{body}");
    (server, [data, packs])
}

#[test]
fn first_start_needs_no_flags_and_issues_working_tokens() {
    let data = tempfile::tempdir().unwrap();
    let d = data.path().to_str().unwrap();
    let server = Proc::start(&["--data-dir", d]);
    assert!(data.path().join("warden.db").exists());
    assert!(data.path().join("master.key").exists());
    let out = Command::new(WARDEN)
        .args([
            "token",
            "issue",
            "--data-dir",
            d,
            "--sub",
            "ops",
            "--tenant",
            "*",
        ])
        .args(["--roles", "fleet-admin", "--ttl", "5m"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let t = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    let (status, body) = server.call("GET", "/v1/tenants", &t, None);
    assert_eq!(status, 200, "{body}");
    let (status, _) = server.call("GET", "/v1/tenants", "forged.token.here", None);
    assert_eq!(status, 401);
    let (status, out) = server.terminate();
    assert!(status.success(), "{status:?}");
    assert!(out.iter().any(|l| l == "warden stopped"), "{out:?}");
}

#[test]
fn two_servers_on_one_postgres_serve_the_same_tenants() {
    let db = PgDb::create_blocking();
    let k = TestKeys::new();
    let packs = packs_dir();
    let (da, db_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let master = "42".repeat(32);
    let common = |data: &Path| -> Vec<String> {
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
            "--refresh-ms".into(),
            "100".into(),
        ]
    };
    let args_a = common(da.path());
    let args_b = common(db_dir.path());
    // Both start at once: migrations and built-in registration race.
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| Proc::start(&args_a.iter().map(String::as_str).collect::<Vec<_>>()));
        let b = s.spawn(|| Proc::start(&args_b.iter().map(String::as_str).collect::<Vec<_>>()));
        (a.join().unwrap(), b.join().unwrap())
    });
    let admin = k.token("*", &[Role::FleetAdmin]);
    let runtime = k.token("acme", &[Role::Runtime]);
    // Created through A, served by B.
    let (s, body) = a.call("POST", "/v1/tenants", &admin, Some(&json!({"id": "acme"})));
    assert_eq!(s, 201, "{body}");
    let comp = json!({"version": 0, "composition": {"packs": [{"name": "treasury"}], "default_effect": "allow"}});
    let (s, body) = a.call("PUT", "/v1/tenants/acme/composition", &admin, Some(&comp));
    assert_eq!(s, 200, "{body}");
    let (s, body) = b.call(
        "POST",
        "/v1/tenants/acme/evaluate",
        &runtime,
        Some(&payment("r1", 5_000)),
    );
    assert_eq!(s, 200, "{body}");
    assert_eq!(body["verdict"], "allow", "{body}");
    // B's tenant key decrypts with the shared master key: same public key from both.
    let pa = a.call("GET", "/v1/tenants/acme/public-key", &admin, None).1;
    let pb = b.call("GET", "/v1/tenants/acme/public-key", &admin, None).1;
    assert_eq!(pa["public_key"], pb["public_key"]);
    // A tightens the fleet layer; B follows within its refresh interval.
    let layer = json!({"version": 0, "layer": {"name": "fleet", "packs": {"treasury": {"amount-limit": {"params": {"max": ["10.00 EUR"]}}}}}});
    let (s, body) = a.call("PUT", "/v1/fleet/layer", &admin, Some(&layer));
    assert_eq!(s, 200, "{body}");
    let changed = Instant::now();
    loop {
        let (_, body) = b.call(
            "POST",
            "/v1/tenants/acme/evaluate",
            &runtime,
            Some(&payment("r2", 5_000)),
        );
        if body["verdict"] == "deny" {
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(5),
            "B never saw the change: {body}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    for i in 0..10 {
        let r = payment(&format!("x{i}"), 1_000 * (i + 1));
        let va = a
            .call("POST", "/v1/tenants/acme/evaluate", &runtime, Some(&r))
            .1;
        let vb = b
            .call("POST", "/v1/tenants/acme/evaluate", &runtime, Some(&r))
            .1;
        assert_eq!(va["verdict"], vb["verdict"], "{i}");
        assert_eq!(va["serving"], vb["serving"]);
    }
    // Concurrent edits of the same version through both servers: one wins.
    let edit = json!({"version": 1, "composition": {"packs": [{"name": "treasury"}, {"name": "pii-strict"}]}});
    let (ra, rb) = std::thread::scope(|s| {
        let x = s.spawn(|| {
            a.call("PUT", "/v1/tenants/acme/composition", &admin, Some(&edit))
                .0
        });
        let y = s.spawn(|| {
            b.call("PUT", "/v1/tenants/acme/composition", &admin, Some(&edit))
                .0
        });
        (x.join().unwrap(), y.join().unwrap())
    });
    let mut codes = [ra, rb];
    codes.sort();
    assert_eq!(codes, [200, 409]);
    let (sa, _) = a.terminate();
    let (sb, _) = b.terminate();
    assert!(sa.success() && sb.success());
}

#[test]
fn shutdown_lets_in_flight_requests_finish() {
    let k = TestKeys::new();
    let (server, [data, _packs]) = server_with_acme(
        &k,
        json!({"packs": [{"name": "treasury"}, {"name": "pii-strict"}, {"name": "external-tools-untrusted"}]}),
    );
    let admin = k.token("*", &[Role::FleetAdmin]);
    let runtime = k.token("acme", &[Role::Runtime]);
    let batch = json!({"requests": (0..1000).map(|i| payment(&format!("b{i}"), 100 + i)).collect::<Vec<_>>()});
    let addr = server.addr.clone();
    let inflight = std::thread::spawn(move || {
        http(
            &addr,
            "POST",
            "/v1/tenants/acme/evaluate/batch",
            &runtime,
            Some(&batch),
        )
    });
    std::thread::sleep(Duration::from_millis(50));
    let current = server.call("GET", "/v1/packs/treasury", &admin, None).1["current"]
        .as_str()
        .unwrap()
        .to_owned();
    let (status, out) = server.terminate();
    let (code, body) = inflight.join().unwrap();
    assert_eq!(code, 200, "the in-flight batch was cut off");
    assert_eq!(body["results"].as_array().map(Vec::len), Some(1000));
    assert!(status.success(), "{status:?}: {out:?}");
    // Every decision of the batch is in the trace log, and the chain verifies.
    let verify = Command::new(WARDEN)
        .args(["trace", "verify", "--tenant", "acme", "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(
        verify.status.success(),
        "{}",
        String::from_utf8_lossy(&verify.stdout)
    );
    let report: Value = serde_json::from_slice(&verify.stdout).unwrap();
    assert!(report["fault"].is_null());
    // Admin and configuration events come first; then the 1000 decisions.
    let mut seqs: Vec<u64> = body["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["trace_seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    seqs.dedup();
    assert_eq!(seqs.len(), 1000);
    assert_eq!(
        report["last_seq"].as_u64(),
        seqs.last().copied(),
        "{report}"
    );
    assert_eq!(report["events"], report["last_seq"]);
    // `warden pack diff` reads catalog references from the server's database.
    let reference = format!("treasury@{current}");
    let diff = Command::new(WARDEN)
        .args(["pack", "diff", &reference, &reference, "--data-dir"])
        .arg(data.path())
        .output()
        .unwrap();
    assert!(
        diff.status.success(),
        "{}",
        String::from_utf8_lossy(&diff.stderr)
    );
    let text = String::from_utf8_lossy(&diff.stdout);
    assert!(
        text.starts_with(&format!("treasury {current} -> {current}")),
        "{text}"
    );
    assert!(text.trim_end().ends_with("no rule changes"), "{text}");
}

#[test]
fn serves_https_with_the_given_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args(["-days", "1", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl is needed to make a test certificate");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let server = Proc::start(&[
        "--data-dir",
        dir.path().to_str().unwrap(),
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let url = format!("https://{}/healthz", server.addr);
    let out = Command::new("curl")
        .args(["-s", "--cacert"])
        .arg(&cert)
        .args([
            "--resolve",
            &format!(
                "localhost:{}:127.0.0.1",
                server.addr.rsplit(':').next().unwrap()
            ),
        ])
        .arg(url.replace("127.0.0.1", "localhost"))
        .output()
        .expect("curl is needed for the HTTPS test");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout), r#"{"status":"ok"}"#);
    // Plain HTTP on the TLS port gets no answer.
    let plain = Command::new("curl")
        .args(["-s", "-m", "5"])
        .arg(format!("http://{}/healthz", server.addr))
        .output()
        .unwrap();
    assert!(!String::from_utf8_lossy(&plain.stdout).contains("ok"));
    let bad = Command::new(WARDEN)
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.path())
        .arg("--tls-cert")
        .arg(&key)
        .arg("--tls-key")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("cannot use TLS certificate"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let (status, _) = server.terminate();
    assert!(status.success());
}

/// A server that logs an error from a request handler goes on serving: the
/// log line reaches stderr and the request, and the ones after it, are
/// answered. (The binary once held the stderr lock for its whole run, so the
/// first worker thread to log blocked for good and the server stopped
/// answering.)
#[test]
fn logging_an_error_does_not_stop_the_server() {
    let k = TestKeys::new();
    let (server, _dirs) = server_with_acme(
        &k,
        json!({"packs": [{"name": "treasury"}], "default_effect": "allow"}),
    );
    let admin = k.token("*", &[Role::FleetAdmin]);
    let op = k.token("acme", &[Role::Operator, Role::Runtime]);
    // A webhook anchor nobody listens on: every checkpoint logs a failure.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/anchor", closed.local_addr().unwrap());
    drop(closed);
    let settings = json!({"settings": {"trace": {"anchors": [{"type": "webhook", "url": url}]}}});
    let (s, body) = server.call("PATCH", "/v1/tenants/acme", &admin, Some(&settings));
    assert_eq!(s, 200, "{body}");
    // More failures than the server has worker threads.
    let mut last_seq = 0;
    for i in 0..4 {
        let (s, body) = server.call(
            "POST",
            "/v1/tenants/acme/evaluate",
            &op,
            Some(&payment(&format!("r{i}"), 1_000)),
        );
        assert_eq!(s, 200, "{body}");
        let (s, body) = server.call(
            "POST",
            "/v1/tenants/acme/trace/checkpoint",
            &op,
            Some(&json!({})),
        );
        assert_eq!(s, 200, "{body}");
        // A new checkpoint each time (the decision moved the head).
        let seq = body["checkpoint"]["seq"].as_u64().unwrap();
        assert!(seq > last_seq, "{body}");
        last_seq = seq;
        let logged = server.stderr_until("not anchored", Duration::from_secs(10));
        assert!(
            logged.iter().any(|l| l.contains("not anchored")),
            "no anchoring failure logged: {logged:?}"
        );
    }
    let (s, body) = server.call(
        "POST",
        "/v1/tenants/acme/evaluate",
        &op,
        Some(&payment("last", 1_000)),
    );
    assert_eq!(s, 200, "{body}");
    let (status, _) = server.terminate();
    assert!(status.success(), "{status:?}");
}
