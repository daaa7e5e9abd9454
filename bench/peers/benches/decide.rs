//! Decision latency of warden against `cedar-policy` and `regorus` (Rego) on
//! the same requests, and the cost of compiling, loading from the artifact
//! cache and instantiating a pack.
//!
//! Run with `cargo bench -p warden-bench-peers --bench decide -- --noplot`; see
//! `BENCHMARKS.md` at the repository root for results and how to read them.
//!
//! Benchmark ids are `<group>/<variant>/<request>`:
//!
//! - `decide/warden-1pack-{fresh,reuse}-{parsed,json}`: the treasury pack
//!   alone; `-parsed` evaluates a pre-parsed [`Request`], `-json` includes
//!   [`Request::from_json`].
//! - `decide/warden-3pack-…`: the three built-in packs composed.
//! - `decide/warden-equiv-…`: treasury and external-tools-untrusted with
//!   `url-domain-allowlist` switched off: exactly the rules the Cedar and
//!   Rego policies below express (no PII or URL scanning).
//! - `decide/cedar-{prebuilt,json}`, `decide/regorus-{prebuilt,json}`: the
//!   peers; `-json` includes building their request from the same JSON text.
//! - `steps/…`: sub-steps (parsing alone, building the Cedar request alone).
//! - `pack/…`: compile, cached load, and per-decision instance cost.
//!
//! Every variant is checked against the expected verdict of every request
//! before timing, and the peers are checked to agree with warden on a wider
//! set of requests, so the comparison is between equivalent policies.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use criterion::{BenchmarkId, Criterion};
use serde_json::{Value, json};
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};
use warden_host::{Composition, CompositionSpec, Engine, EngineConfig, Pack, Request, Verdict};

const TENANT: &str = "acme";

/// One benchmark request: its JSON as a runtime sends it and the verdict every
/// engine must reach.
struct Case {
    name: &'static str,
    json: &'static str,
    verdict: Verdict,
    /// Payment requests are also run against the treasury pack alone.
    payment: bool,
}

const CASES: &[Case] = &[
    Case {
        name: "pay-allow",
        json: r#"{"id":"req-1001","tenant":"acme","principal":{"agent":"billing-bot","on_behalf_of":"alice@acme.example","roles":["finance","ap-clerk"]},"action":{"tool":"payments.pay_invoice","safety_class":"financial","amount":{"minor_units":25000,"currency":"EUR"},"counterparty":"ACME GmbH","tags":[],"args":{"invoice":"INV-2024-0042","due":"2024-07-01","memo":"March hosting"}},"context":{"conversation":"c-42","turn":7}}"#,
        verdict: Verdict::Allow,
        payment: true,
    },
    Case {
        name: "pay-deny",
        json: r#"{"id":"req-1002","tenant":"acme","principal":{"agent":"billing-bot","on_behalf_of":"alice@acme.example","roles":["finance","ap-clerk"]},"action":{"tool":"payments.pay_invoice","safety_class":"financial","amount":{"minor_units":1250000,"currency":"EUR"},"counterparty":"ACME GmbH","tags":[],"args":{"invoice":"INV-2024-0043","due":"2024-07-01","memo":"Annual licence"}},"context":{"conversation":"c-42","turn":8}}"#,
        verdict: Verdict::Deny,
        payment: true,
    },
    Case {
        name: "pay-escalate",
        json: r#"{"id":"req-1003","tenant":"acme","principal":{"agent":"billing-bot","on_behalf_of":"alice@acme.example","roles":["finance","ap-clerk"]},"action":{"tool":"payments.pay_invoice","safety_class":"financial","amount":{"minor_units":250000,"currency":"EUR"},"counterparty":"ACME GmbH","tags":[],"args":{"invoice":"INV-2024-0044","due":"2024-07-01","memo":"Q3 consulting"}},"context":{"conversation":"c-42","turn":9}}"#,
        verdict: Verdict::Escalate,
        payment: true,
    },
    Case {
        name: "tool-allow",
        json: r#"{"id":"req-2001","tenant":"acme","principal":{"agent":"research-bot","roles":["analyst"]},"action":{"tool":"search.web","safety_class":"external","tags":[],"args":{"query":"eu vat rates for software services","max_results":5}},"context":{"conversation":"c-77","turn":2}}"#,
        verdict: Verdict::Allow,
        payment: false,
    },
    Case {
        name: "tool-deny",
        json: r#"{"id":"req-2002","tenant":"acme","principal":{"agent":"support-bot","roles":["support"]},"action":{"tool":"email.send","safety_class":"external","tags":[],"args":{"template":"invoice-reminder","customer_id":"cust-0042","locale":"de-DE"}},"context":{"conversation":"c-78","turn":4}}"#,
        verdict: Verdict::Deny,
        payment: false,
    },
    Case {
        name: "tool-escalate",
        json: r#"{"id":"req-2003","tenant":"acme","principal":{"agent":"ops-bot","roles":["dba"]},"action":{"tool":"db.delete_rows","safety_class":"destructive","tags":[],"args":{"table":"staging_imports","filter":"batch_id = 17"}},"context":{"conversation":"c-79","turn":1}}"#,
        verdict: Verdict::Escalate,
        payment: false,
    },
];

/// Actions on which warden (the equivalent composition), Cedar and Rego must
/// agree before anything is timed: every rule of the subset, both ways, and
/// the edges (at a limit, one cent over, refunds, case and whitespace).
const AGREEMENT: &[(&str, Verdict)] = &[
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":1000000,"currency":"EUR"}"#,
        Verdict::Escalate,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":1000001,"currency":"EUR"}"#,
        Verdict::Deny,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":100000,"currency":"EUR"}"#,
        Verdict::Allow,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":100001,"currency":"EUR"}"#,
        Verdict::Escalate,
    ),
    (
        r#""tool":"shop.refund_order","safety_class":"write","amount":{"minor_units":-100001,"currency":"EUR"}"#,
        Verdict::Escalate,
    ),
    (
        r#""tool":"shop.refund_order","safety_class":"write","amount":{"minor_units":-500,"currency":"EUR"}"#,
        Verdict::Allow,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":-500,"currency":"EUR"}"#,
        Verdict::Deny,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":0,"currency":"EUR"}"#,
        Verdict::Deny,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial""#,
        Verdict::Deny,
    ),
    (
        r#""tool":"treasury.get_balance","safety_class":"read-only""#,
        Verdict::Allow,
    ),
    (
        r#""tool":"drive.transfer_ownership","safety_class":"write""#,
        Verdict::Deny,
    ),
    (
        r#""tool":"crm.update","safety_class":"write""#,
        Verdict::Allow,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":80000,"currency":"GBP"}"#,
        Verdict::Allow,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":500,"currency":"JPY"}"#,
        Verdict::Deny,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":900000,"currency":"GBP"}"#,
        Verdict::Deny,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":500,"currency":"EUR"},"counterparty":"  evil   CORP ""#,
        Verdict::Deny,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":500,"currency":"EUR"},"counterparty":"Evil Corporation""#,
        Verdict::Allow,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":500,"currency":"EUR"},"counterparty":"Globex Sanctioned Ltd""#,
        Verdict::Deny,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":500,"currency":"EUR"},"counterparty":"   ""#,
        Verdict::Allow,
    ),
    (
        r#""tool":"payments.pay","safety_class":"financial","amount":{"minor_units":500,"currency":"EUR"},"tags":["Untrusted"]"#,
        Verdict::Deny,
    ),
    (
        r#""tool":"crm.update","safety_class":"write","tags":["untrusted-input"]"#,
        Verdict::Deny,
    ),
    (
        r#""tool":"crm.lookup","safety_class":"read-only","tags":["untrusted-input"]"#,
        Verdict::Allow,
    ),
    (
        r#""tool":"http.get","safety_class":"external""#,
        Verdict::Allow,
    ),
    (
        r#""tool":"search.news","safety_class":"external""#,
        Verdict::Allow,
    ),
    (
        r#""tool":"http.post","safety_class":"external""#,
        Verdict::Deny,
    ),
    (
        r#""tool":"db.drop_table","safety_class":"destructive""#,
        Verdict::Escalate,
    ),
    (
        r#""tool":"db.drop_table","safety_class":"destructive","tags":["untrusted"]"#,
        Verdict::Deny,
    ),
];

/// An agreement action wrapped into a request.
fn agreement_request(action: &str) -> String {
    format!(
        r#"{{"id":"agree","tenant":"{TENANT}","principal":{{"agent":"a"}},"action":{{{action}}}}}"#
    )
}

// ---------------------------------------------------------------- warden ---

fn engine() -> Engine {
    Engine::new().expect("engine")
}

fn load(engine: &Engine, names: &[&str]) -> Vec<Arc<Pack>> {
    names
        .iter()
        .map(|n| {
            engine
                .load_pack_file(warden_testkit::pack_path(n))
                .expect(n)
        })
        .collect()
}

/// A composition of `packs` with the benchmark settings: default effect
/// `allow` (so a request no rule objects to is allowed, as in Cedar and Rego),
/// a counterparty blocklist, and `url-domain-allowlist` off when `no_urls`.
fn compose(packs: Vec<Arc<Pack>>, isolation: &str, no_urls: bool) -> Composition {
    let mut layer = serde_json::Map::new();
    for p in &packs {
        match p.name() {
            "treasury" => {
                layer.insert(
                    "treasury".into(),
                    json!({"counterparty-blocklist": {"params": {"blocked": ["Evil Corp", "*sanctioned*"]}}}),
                );
            }
            "external-tools-untrusted" if no_urls => {
                layer.insert(
                    "external-tools-untrusted".into(),
                    json!({"url-domain-allowlist": {"enabled": false}}),
                );
            }
            _ => {}
        }
    }
    let spec = json!({
        "default_effect": "allow",
        "isolation": isolation,
        "layers": [{"name": "fleet", "packs": layer}],
    });
    let spec = CompositionSpec::from_json(&spec.to_string()).expect("spec");
    Composition::build(TENANT, packs, &spec).expect("composition")
}

// ----------------------------------------------------------------- cedar ---

#[path = "decide/cedar.rs"]
mod cedar;

// ---------------------------------------------------------------- regorus ---

#[path = "decide/rego.rs"]
mod rego;
use rego::{rego_decide, rego_decide_json, rego_engine};

// ------------------------------------------------------------ the benches ---

struct Setup {
    one_fresh: Composition,
    one_reuse: Composition,
    three_fresh: Composition,
    three_reuse: Composition,
    equiv_fresh: Composition,
    equiv_reuse: Composition,
    cedar: cedar::Peer,
    rego: regorus::Engine,
}

fn setup() -> Setup {
    let engine = engine();
    let treasury = load(&engine, &["treasury"]);
    let three = load(&engine, &warden_testkit::BUILT_IN);
    let equiv = vec![three[0].clone(), three[2].clone()];
    let s = Setup {
        one_fresh: compose(treasury.clone(), "fresh", false),
        one_reuse: compose(treasury, "reuse", false),
        three_fresh: compose(three.clone(), "fresh", false),
        three_reuse: compose(three, "reuse", false),
        equiv_fresh: compose(equiv.clone(), "fresh", true),
        equiv_reuse: compose(equiv, "reuse", true),
        cedar: cedar::Peer::new(),
        rego: rego_engine(),
    };
    check(&s);
    s
}

/// Every engine reaches the expected verdict on every benchmark request, and
/// the peers agree with warden's equivalent composition on a wider set.
fn check(s: &Setup) {
    let mut rego = s.rego.clone();
    for case in CASES {
        let req = Request::from_json(case.json).expect(case.name);
        let mut all = vec![
            ("3pack-fresh", s.three_fresh.evaluate(&req)),
            ("3pack-reuse", s.three_reuse.evaluate(&req)),
            ("equiv-fresh", s.equiv_fresh.evaluate(&req)),
            ("equiv-reuse", s.equiv_reuse.evaluate(&req)),
        ];
        if case.payment {
            all.push(("1pack-fresh", s.one_fresh.evaluate(&req)));
            all.push(("1pack-reuse", s.one_reuse.evaluate(&req)));
        }
        for (name, d) in all {
            assert_eq!(
                d.verdict, case.verdict,
                "warden {name} on {}: {d:#?}",
                case.name
            );
            assert!(
                d.explanation.findings.iter().all(|f| !f.fail_closed),
                "{name} on {}: {}",
                case.name,
                d.reason
            );
        }
        let (r, e) = s.cedar.build(case.json);
        assert_eq!(
            s.cedar.decide(&r, &e),
            case.verdict,
            "cedar on {}",
            case.name
        );
        assert_eq!(
            rego_decide_json(&mut rego, case.json),
            case.verdict,
            "rego on {}",
            case.name
        );
    }
    for &(action, expected) in AGREEMENT {
        let text = agreement_request(action);
        let req = Request::from_json(&text).expect("agreement request");
        let warden = s.equiv_reuse.evaluate(&req);
        assert_eq!(
            warden.verdict, expected,
            "warden on {text}: {}",
            warden.reason
        );
        let (r, e) = s.cedar.build(&text);
        assert_eq!(s.cedar.decide(&r, &e), expected, "cedar on {text}");
        assert_eq!(
            rego_decide_json(&mut rego, &text),
            expected,
            "rego on {text}"
        );
    }
}

fn decide(c: &mut Criterion, s: &Setup) {
    let mut g = c.benchmark_group("decide");
    let warden: [(&str, &Composition, bool); 6] = [
        ("warden-1pack-fresh", &s.one_fresh, true),
        ("warden-1pack-reuse", &s.one_reuse, true),
        ("warden-3pack-fresh", &s.three_fresh, false),
        ("warden-3pack-reuse", &s.three_reuse, false),
        ("warden-equiv-fresh", &s.equiv_fresh, false),
        ("warden-equiv-reuse", &s.equiv_reuse, false),
    ];
    for (name, comp, payments_only) in warden {
        for case in CASES.iter().filter(|c| c.payment || !payments_only) {
            let req = Request::from_json(case.json).expect(case.name);
            g.bench_with_input(
                BenchmarkId::new(format!("{name}-parsed"), case.name),
                &req,
                |b, req| b.iter(|| comp.evaluate(black_box(req))),
            );
            if name.starts_with("warden-equiv") {
                continue;
            }
            g.bench_with_input(
                BenchmarkId::new(format!("{name}-json"), case.name),
                case.json,
                |b, json| {
                    b.iter(|| {
                        let req = Request::from_json(black_box(json)).expect("request");
                        comp.evaluate(&req)
                    })
                },
            );
        }
    }
    for case in CASES {
        let (request, entities) = s.cedar.build(case.json);
        g.bench_function(BenchmarkId::new("cedar-prebuilt", case.name), |b| {
            b.iter(|| s.cedar.decide(black_box(&request), black_box(&entities)))
        });
        g.bench_function(BenchmarkId::new("cedar-json", case.name), |b| {
            b.iter(|| {
                let (request, entities) = s.cedar.build(black_box(case.json));
                s.cedar.decide(&request, &entities)
            })
        });
    }
    let mut rego = s.rego.clone();
    for case in CASES {
        let input = regorus::Value::from_json_str(case.json).expect("input");
        g.bench_function(BenchmarkId::new("regorus-prebuilt", case.name), |b| {
            b.iter(|| rego_decide(&mut rego, black_box(&input)))
        });
        g.bench_function(BenchmarkId::new("regorus-json", case.name), |b| {
            b.iter(|| rego_decide_json(&mut rego, black_box(case.json)))
        });
    }
    g.finish();
}

/// Sub-steps, to see where the time of the `-json` variants goes.
fn steps(c: &mut Criterion, s: &Setup) {
    let mut g = c.benchmark_group("steps");
    for case in CASES
        .iter()
        .filter(|c| c.name == "pay-allow" || c.name == "tool-allow")
    {
        g.bench_function(
            BenchmarkId::new("warden-request-from-json", case.name),
            |b| b.iter(|| Request::from_json(black_box(case.json)).expect("request")),
        );
        g.bench_function(BenchmarkId::new("cedar-build-request", case.name), |b| {
            b.iter(|| s.cedar.build(black_box(case.json)))
        });
        g.bench_function(BenchmarkId::new("serde-json-value", case.name), |b| {
            b.iter(|| serde_json::from_str::<Value>(black_box(case.json)).expect("json"))
        });
        g.bench_function(BenchmarkId::new("regorus-set-input-json", case.name), |b| {
            let mut rego = s.rego.clone();
            b.iter(|| rego.set_input_json(black_box(case.json)).expect("input"))
        });
    }
    g.finish();
}

/// Compile, cached load, and the cost of a fresh instance per decision.
fn pack_costs(c: &mut Criterion) {
    let mut g = c.benchmark_group("pack");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(8));
    let uncached = engine();
    let cache_dir = tempfile::tempdir().expect("tempdir");
    let config = EngineConfig {
        cache_dir: Some(cache_dir.path().to_owned()),
        ..EngineConfig::default()
    };
    let first = Engine::with_config(config.clone()).expect("engine");
    let second = Engine::with_config(config).expect("engine");
    for name in warden_testkit::BUILT_IN {
        let bytes = warden_testkit::pack_bytes(name);
        g.bench_function(BenchmarkId::new("compile", name), |b| {
            b.iter(|| uncached.load_pack(black_box(&bytes)).expect("load"))
        });
        first.load_pack(&bytes).expect("first load");
        let (hits, _, _) = second.cache_stats();
        second.load_pack(&bytes).expect("cached load");
        assert_eq!(
            second.cache_stats().0,
            hits + 1,
            "the second engine hits the cache"
        );
        g.bench_function(BenchmarkId::new("cached-load", name), |b| {
            b.iter(|| second.load_pack(black_box(&bytes)).expect("cached load"))
        });
    }
    g.finish();

    // A request no rule looks at: a fresh decision minus a reused one is the
    // per-decision cost of a fresh instance (instantiate, store, first call
    // with parameter parsing inside the pack).
    let mut g = c.benchmark_group("instance");
    let trivial = Request::from_json(
        r#"{"id":"t","tenant":"acme","principal":{"agent":"a"},"action":{"tool":"crm.lookup","safety_class":"read-only"}}"#,
    )
    .expect("trivial");
    let engine = engine();
    for name in warden_testkit::BUILT_IN {
        for isolation in ["fresh", "reuse"] {
            let comp = compose(load(&engine, &[name]), isolation, false);
            assert_eq!(comp.evaluate(&trivial).verdict, Verdict::Allow);
            g.bench_function(
                BenchmarkId::new(format!("trivial-{isolation}"), name),
                |b| b.iter(|| comp.evaluate(black_box(&trivial))),
            );
        }
    }
    g.finish();
}

/// Per-call latency percentiles (criterion reports per-sample means): times
/// single evaluations one by one.
fn percentiles(s: &Setup) {
    const CALLS: usize = 20_000;
    println!("\nlatency: per-call latency, {CALLS} calls each (µs): p50 / p90 / p99");
    let variants: [(&str, &Composition); 4] = [
        ("warden-1pack-fresh", &s.one_fresh),
        ("warden-1pack-reuse", &s.one_reuse),
        ("warden-3pack-fresh", &s.three_fresh),
        ("warden-3pack-reuse", &s.three_reuse),
    ];
    for (name, comp) in variants {
        for case in CASES.iter().filter(|c| c.payment) {
            let req = Request::from_json(case.json).expect("request");
            for _ in 0..1000 {
                black_box(comp.evaluate(&req));
            }
            let mut times: Vec<Duration> = (0..CALLS)
                .map(|_| {
                    let t = Instant::now();
                    black_box(comp.evaluate(black_box(&req)));
                    t.elapsed()
                })
                .collect();
            times.sort();
            let at = |q: f64| times[((CALLS as f64) * q) as usize].as_secs_f64() * 1e6;
            println!(
                "{name:<20} {:<14} {:>8.2} {:>8.2} {:>8.2}",
                case.name,
                at(0.50),
                at(0.90),
                at(0.99)
            );
        }
    }
}

/// Whether to run [`percentiles`]: under `cargo bench` (which passes
/// `--bench`; `cargo test --all-targets` runs every benchmark once as a test
/// and does not), not when profiling, and only when no filter is given or the
/// filter matches `latency`.
fn wants_percentiles() -> bool {
    const TAKES_VALUE: &[&str] = &[
        "--profile-time",
        "--save-baseline",
        "--baseline",
        "--baseline-lenient",
        "--load-baseline",
        "--sample-size",
        "--warm-up-time",
        "--measurement-time",
        "--nresamples",
        "--noise-threshold",
        "--confidence-level",
        "--significance-level",
        "--output-format",
        "--color",
        "--plotting-backend",
        "--format",
    ];
    let args: Vec<String> = std::env::args().skip(1).collect();
    if !args.iter().any(|a| a == "--bench") || args.iter().any(|a| a == "--profile-time") {
        return false;
    }
    let filters = args.iter().enumerate().filter(|(i, a)| {
        !a.starts_with('-') && (*i == 0 || !TAKES_VALUE.contains(&args[i - 1].as_str()))
    });
    filters
        .into_iter()
        .all(|(_, f)| "latency".contains(f.as_str()))
}

fn main() {
    let s = setup();
    let mut c = Criterion::default()
        .sample_size(50)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    decide(&mut c, &s);
    steps(&mut c, &s);
    pack_costs(&mut c);
    c.final_summary();
    if wants_percentiles() {
        percentiles(&s);
    }
}
