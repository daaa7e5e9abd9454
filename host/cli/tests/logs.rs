//! `warden serve`'s log as an operator reads it: with `--log-format json`,
//! one JSON object per line, and a request's lines carry its id (the
//! caller's `x-request-id`, echoed back), its tenant and its decision id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use support::*;
use warden_testkit::TestKeys;

use serde_json::{Value, json};
use std::io::{Read, Write};
use std::time::Duration;
use warden_server::auth::Role;

/// POSTs `body` with an `x-request-id`; the status, the response's
/// `x-request-id` and the body.
fn post_with_id(
    addr: &str,
    path: &str,
    token: &str,
    id: &str,
    body: &Value,
) -> (u16, String, Value) {
    let body = body.to_string();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {token}\r\n\
         x-request-id: {id}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let (head, body) = text.split_once("\r\n\r\n").unwrap();
    let status = head.split(' ').nth(1).unwrap().parse().unwrap();
    let echoed = head
        .lines()
        .find_map(|l| l.strip_prefix("x-request-id: "))
        .unwrap_or("")
        .to_owned();
    (
        status,
        echoed,
        serde_json::from_str(body).unwrap_or(Value::Null),
    )
}

#[test]
fn json_lines_carry_the_request_id_tenant_and_decision() {
    let k = TestKeys::new();
    let data = tempfile::tempdir().unwrap();
    let packs = packs_dir();
    let server = Proc::start(&[
        "--data-dir",
        data.path().to_str().unwrap(),
        "--jwt-public-key",
        k.issuer_pub.to_str().unwrap(),
        "--builtin-packs",
        packs.path().to_str().unwrap(),
        "--log-format",
        "json",
        "--log",
        "info,warden_server::request_log=debug",
    ]);
    let admin = k.token("*", &[Role::FleetAdmin]);
    let (s, body) = server.call("POST", "/v1/tenants", &admin, Some(&json!({"id": "acme"})));
    assert_eq!(s, 201, "{body}");
    let comp = json!({"version": 0, "composition": {"packs": [{"name": "treasury"}]}});
    let (s, body) = server.call("PUT", "/v1/tenants/acme/composition", &admin, Some(&comp));
    assert_eq!(s, 200, "{body}");

    let runtime = k.token("acme", &[Role::Runtime]);
    let (s, echoed, decision) = post_with_id(
        &server.addr,
        "/v1/tenants/acme/evaluate",
        &runtime,
        "agent-run-7",
        &payment("r1", 1_000),
    );
    assert_eq!(s, 200, "{decision}");
    assert_eq!(echoed, "agent-run-7");

    let lines = server.stderr_until("agent-run-7", Duration::from_secs(10));
    let line = lines
        .iter()
        .rev()
        .find(|l| l.contains("agent-run-7"))
        .unwrap_or_else(|| panic!("the request was not logged: {lines:?}"));
    let entry: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(entry["status"], 200, "{entry}");
    assert_eq!(entry["level"], "DEBUG", "{entry}");
    let span = &entry["spans"][0];
    assert_eq!(span["name"], "request", "{entry}");
    assert_eq!(span["request_id"], "agent-run-7", "{entry}");
    assert_eq!(span["method"], "POST", "{entry}");
    assert_eq!(span["path"], "/v1/tenants/acme/evaluate", "{entry}");
    assert_eq!(span["tenant"], "acme", "{entry}");
    assert_eq!(span["decision_id"], decision["decision_id"], "{entry}");

    // A request without an id gets one, and every line stays JSON.
    let (s, _) = server.call("GET", "/v1/tenants/acme", &admin, None);
    assert_eq!(s, 200);
    let lines = server.stderr_until("\"path\":\"/v1/tenants/acme\"", Duration::from_secs(10));
    for l in &lines {
        let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"));
        assert!(v["level"].is_string(), "{l}");
    }
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    let id = last["spans"][0]["request_id"].as_str().unwrap();
    assert_eq!(id.len(), 36, "a UUID: {last}");
    let (status, _) = server.terminate();
    assert!(status.success(), "{status:?}");
}
