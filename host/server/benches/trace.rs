//! Trace-log speed: records per second through the streaming NDJSON
//! verifier, and events per second appended through the group-commit
//! appender on SQLite (and on PostgreSQL when `WARDEN_BENCH_PG` names an
//! empty database), for one tenant and for eight.
//!
//! `cargo bench -p warden-server --bench trace`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use warden_server::trace::{Chain, EventClass, verify_ndjson};
use warden_server::trace_log::appender::Appender;
use warden_store::{NewEvent, Store};

fn export(n: u64) -> String {
    export_with(n, false)
}

/// `full`: bodies shaped like the server's decision events (findings, the
/// three packs with digests, layers, configuration digest), about 1.3 KiB each.
fn export_with(n: u64, full: bool) -> String {
    let mut c = Chain::new("acme");
    let mut out = String::new();
    for i in 1..=n {
        // A decision-sized body: request summary, verdict, pack versions.
        let mut body = json!({"decision_id": format!("01a21fb0-ef4d-7631-8ae7-{i:012}"), "verdict": "escalate",
                       "request": {"id": format!("req-{i}"), "agent": "billing-bot", "tool": "payments.pay_invoice",
                                   "amount": {"minor_units": 450000, "currency": "EUR"}},
                       "packs": [{"pack": "treasury", "version": "1.0.0"}, {"pack": "pii-strict", "version": "1.0.0"}],
                       "routes": ["finance"]});
        if full {
            body["findings"] = json!([
                {"pack": "treasury", "rule": "large-payment", "verdict": "escalate",
                 "message": "payment of 4500.00 EUR exceeds the 1000.00 EUR approval threshold",
                 "route": "finance", "evidence": {"amount": 450000, "threshold": 100000}},
                {"pack": "pii-strict", "rule": "no-card-numbers", "verdict": "allow",
                 "message": "no card numbers in arguments", "route": null, "evidence": {}}]);
            body["packs"] = json!([
                {"pack": "treasury", "version": "1.0.0", "digest": format!("sha256:{}", "ab".repeat(32)), "status": "ok"},
                {"pack": "pii-strict", "version": "1.0.0", "digest": format!("sha256:{}", "cd".repeat(32)), "status": "ok"},
                {"pack": "external-tools-untrusted", "version": "1.0.0", "digest": format!("sha256:{}", "ef".repeat(32)), "status": "ok"}]);
            body["layers"] = json!(["defaults", "fleet", "tenant"]);
            body["config"] = json!(format!("sha256:{}", "ef".repeat(32)));
            body["reason"] =
                json!("payment of 4500.00 EUR exceeds the 1000.00 EUR approval threshold");
        }
        let r = c
            .append(
                1_700_000_000_000 + i as i64,
                EventClass::Financial,
                "decision",
                body,
            )
            .unwrap();
        out.push_str(&r.to_line().unwrap());
        out.push('\n');
    }
    out
}

fn verify(c: &mut Criterion) {
    let n = 20_000;
    let text = export(n);
    let mut g = c.benchmark_group("trace");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    g.bench_function("verify-ndjson/20k-decisions", |b| {
        b.iter(|| {
            let r = verify_ndjson(text.as_bytes(), "acme", None);
            assert!(r.ok());
        })
    });
    let full = export_with(n, true);
    g.bench_function("verify-ndjson/20k-full-decision-events", |b| {
        b.iter(|| {
            let r = verify_ndjson(full.as_bytes(), "acme", None);
            assert!(r.ok());
        })
    });
    g.finish();
}

fn append_run(
    rt: &tokio::runtime::Runtime,
    appender: &Appender,
    round: &std::sync::atomic::AtomicU64,
    tenants: usize,
    n: u64,
) {
    let r = round.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    rt.block_on(async {
        let mut set = tokio::task::JoinSet::new();
        for w in 0..64u64 {
            let a = appender.clone();
            let t = format!("bench-{r}-{}", w as usize % tenants);
            set.spawn(async move {
                for i in 0..n / 64 {
                    let body = json!({"decision_id": format!("{w}-{i}"), "verdict": "allow",
                        "request": {"id": format!("req-{w}-{i}"), "agent": "billing-bot",
                                    "tool": "payments.pay_invoice",
                                    "amount": {"minor_units": 450000, "currency": "EUR"}},
                        "packs": [{"pack": "treasury", "version": "1.0.0"}]});
                    let e =
                        NewEvent::new(1_700_000_000_000, EventClass::Financial, "decision", &body)
                            .unwrap();
                    a.append(&t, vec![e]).await.unwrap();
                }
            });
        }
        while set.join_next().await.is_some() {}
    });
}

fn append(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut stores = vec![(
        "sqlite",
        rt.block_on(Store::open_sqlite(dir.path())).unwrap(),
    )];
    if let Ok(url) = std::env::var("WARDEN_BENCH_PG") {
        stores.push(("postgres", rt.block_on(Store::connect(&url)).unwrap()));
    }
    let n = 2048;
    let mut g = c.benchmark_group("trace-append");
    g.throughput(Throughput::Elements(n));
    g.sample_size(10);
    let round = std::sync::atomic::AtomicU64::new(0);
    for (name, store) in &stores {
        let appender = rt.block_on(async { Appender::start(store.clone()) });
        for tenants in [1usize, 8] {
            g.bench_function(format!("{name}/{tenants}-tenants/64-writers"), |b| {
                b.iter(|| append_run(&rt, &appender, &round, tenants, n))
            });
        }
    }
    g.finish();
}

/// A decision event's shape: fields in declaration order (not key order),
/// the request and findings nested, as `events::DecisionEvent` has them.
#[derive(serde::Serialize)]
struct DecisionLike {
    decision_id: String,
    request: serde_json::Value,
    verdict: &'static str,
    routes: Vec<&'static str>,
    reason: &'static str,
    basis: &'static str,
    findings: serde_json::Value,
    packs: serde_json::Value,
    layers: Vec<&'static str>,
    config: String,
}

/// Canonical encoding of one decision event: warden's encoder against
/// `serde_json_canonicalizer`, the crate it replaced.
fn encode(c: &mut Criterion) {
    let event = DecisionLike {
        decision_id: "01a21fb0-ef4d-7631-8ae7-000000000001".into(),
        request: json!({"id": "bench-1", "tenant": "demo",
            "principal": {"agent": "billing-bot", "on_behalf_of": "alice", "roles": ["finance"]},
            "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
                "amount": {"minor_units": 450000, "currency": "EUR"},
                "counterparty": "ACME GmbH", "args": {"invoice": "INV-8"}}}),
        verdict: "escalate",
        routes: vec!["finance"],
        reason: "payment of 4500.00 EUR exceeds the 1000.00 EUR approval threshold",
        basis: "findings",
        findings: json!([{"pack": "treasury", "version": "1.0.0",
            "digest": format!("sha256:{}", "ab".repeat(32)), "rule": "amount-limit",
            "verdict": "escalate", "reason": "payment of 4500.00 EUR exceeds the limit",
            "route": "finance"}]),
        packs: json!([
            {"pack": "treasury", "version": "1.0.0", "digest": format!("sha256:{}", "ab".repeat(32)), "status": "ok"},
            {"pack": "pii-strict", "version": "1.0.0", "digest": format!("sha256:{}", "cd".repeat(32)), "status": "ok"},
            {"pack": "external-tools-untrusted", "version": "1.0.0", "digest": format!("sha256:{}", "ef".repeat(32)), "status": "ok"}]),
        layers: vec!["defaults", "fleet", "tenant"],
        config: format!("sha256:{}", "01".repeat(32)),
    };
    assert_eq!(
        warden_server::trace::canonical("event", &event).unwrap(),
        serde_json_canonicalizer::to_vec(&event).unwrap()
    );
    let mut g = c.benchmark_group("trace-encode");
    g.throughput(Throughput::Elements(1));
    g.bench_function("decision-event/warden", |b| {
        b.iter(|| warden_server::trace::canonical("event", &event).unwrap())
    });
    g.bench_function("decision-event/serde_json_canonicalizer", |b| {
        b.iter(|| serde_json_canonicalizer::to_vec(&event).unwrap())
    });
    g.finish();
}

criterion_group!(benches, verify, append, encode);
criterion_main!(benches);
