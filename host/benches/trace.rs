//! Trace-log verification speed: records per second through the streaming
//! NDJSON verifier (parse, canonicalize, hash, compare).
//!
//! `cargo bench -p warden-host --bench trace`
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use warden_host::trace::{Chain, EventClass, verify_ndjson};

fn export(n: u64) -> String {
    let mut c = Chain::new("acme");
    let mut out = String::new();
    for i in 1..=n {
        // A decision-sized body: request summary, verdict, pack versions.
        let r = c
            .append(
                1_700_000_000_000 + i as i64,
                EventClass::Financial,
                "decision",
                json!({"decision_id": format!("01a21fb0-ef4d-7631-8ae7-{i:012}"), "verdict": "escalate",
                       "request": {"id": format!("req-{i}"), "agent": "billing-bot", "tool": "payments.pay_invoice",
                                   "amount": {"minor_units": 450000, "currency": "EUR"}},
                       "packs": [{"pack": "treasury", "version": "1.0.0"}, {"pack": "pii-strict", "version": "1.0.0"}],
                       "routes": ["finance"]}),
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
    g.finish();
}

criterion_group!(benches, verify);
criterion_main!(benches);
