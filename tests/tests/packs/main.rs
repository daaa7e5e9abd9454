//! The built-in packs, built for `wasm32-wasip2` and run through the engine:
//! every rule of `treasury`, `pii-strict` and `external-tools-untrusted`
//! fires with its verdict and reason, stays silent on near misses, and
//! follows the overrides of a layer. Every scenario runs in both isolation
//! modes, which must decide identically. At the end, a realistic
//! composition of all three packs answers a handful of agent requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod composed;
mod external;
mod pii;
mod treasury;

use serde_json::{Map, Value, json};
use warden_host::{Basis, Composition, Decision, FindingRecord, Isolation, Request, Verdict};
use warden_testkit::BUILT_IN;
use warden_testkit::engine::{compose, pack, request};

// ---------------------------------------------------------------- helpers

/// The same composition twice: fresh instances and reused instances.
struct Both {
    fresh: Composition,
    reuse: Composition,
}

impl Both {
    /// Composes `packs` for tenant `acme` with `spec` in both isolation modes.
    fn new(packs: &[&str], spec: Value) -> Both {
        let with = |isolation: &str| {
            let mut spec = spec.clone();
            spec.as_object_mut()
                .expect("the spec is an object")
                .insert("isolation".into(), json!(isolation));
            compose("acme", packs, spec)
        };
        let both = Both {
            fresh: with("fresh"),
            reuse: with("reuse"),
        };
        assert_eq!(both.fresh.isolation(), Isolation::Fresh);
        assert_eq!(both.reuse.isolation(), Isolation::Reuse);
        both
    }

    /// Evaluates `req` with fresh instances and twice with reused ones (the
    /// second time on a pooled instance that has served earlier requests),
    /// asserts the three decisions agree, and returns the fresh one.
    #[track_caller]
    fn eval(&self, req: &Request) -> Decision {
        let fresh = self.fresh.evaluate(req);
        let reused = [self.reuse.evaluate(req), self.reuse.evaluate(req)];
        let what = &req.action.tool;
        for r in &reused {
            assert_eq!(
                r.verdict, fresh.verdict,
                "{what}: {r:#?}\nvs fresh {fresh:#?}"
            );
            assert_eq!(
                r.explanation.findings, fresh.explanation.findings,
                "{what}: reuse and fresh disagree"
            );
            assert_eq!(r.routes, fresh.routes, "{what}");
            assert_eq!(r.reason, fresh.reason, "{what}");
            assert_eq!(r.explanation.basis, fresh.explanation.basis, "{what}");
        }
        for run in fresh
            .explanation
            .packs
            .iter()
            .chain(reused.iter().flat_map(|d| d.explanation.packs.iter()))
        {
            assert_eq!(run.status, "ok", "{what}: pack `{}` failed", run.pack);
        }
        assert!(
            fresh.explanation.packs.iter().all(|p| !p.reused_instance),
            "{what}: fresh mode reused an instance"
        );
        assert!(
            reused[1]
                .explanation
                .packs
                .iter()
                .all(|p| p.reused_instance),
            "{what}: reuse mode did not reuse its instance"
        );
        fresh
    }
}

/// The single finding of `pack_rule` (`pack/rule`), asserting its verdict
/// and that its reason contains `fragment`. When the finding decided, the
/// decision's one-line reason quotes it.
#[track_caller]
fn fired<'d>(
    d: &'d Decision,
    pack_rule: &str,
    verdict: Verdict,
    fragment: &str,
) -> &'d FindingRecord {
    let (pack, rule) = pack_rule.split_once('/').expect("`pack/rule`");
    let matching: Vec<&FindingRecord> = d
        .explanation
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "expected one `{pack_rule}` finding: {:#?}",
        d.explanation.findings
    );
    let f = matching[0];
    assert_eq!(f.pack, pack, "{f:?}");
    assert_eq!(f.verdict, verdict, "`{pack_rule}`: {f:?}");
    assert!(
        f.reason.contains(fragment),
        "`{pack_rule}` reason {:?} lacks {fragment:?}",
        f.reason
    );
    if f.verdict == d.verdict {
        let quoted = format!("{pack}/{rule}: {}", f.reason);
        assert!(
            d.reason.contains(&quoted),
            "{:?} lacks {quoted:?}",
            d.reason
        );
    }
    f
}

/// Asserts that `rule` made no finding.
#[track_caller]
fn silent(d: &Decision, rule: &str) {
    assert!(
        d.explanation.findings.iter().all(|f| f.rule != rule),
        "`{rule}` should not fire: {:#?}",
        d.explanation.findings
    );
}

/// Asserts that no rule applied and the default effect (`allow`) decided.
#[track_caller]
fn nothing_applies(d: &Decision) {
    assert_eq!(
        (d.verdict, d.explanation.basis),
        (Verdict::Allow, Basis::DefaultEffect),
        "{:#?}",
        d.explanation.findings
    );
    assert!(d.explanation.findings.is_empty());
    assert!(d.routes.is_empty());
}

#[track_caller]
fn verdict_and_routes(d: &Decision, verdict: Verdict, routes: &[&str]) {
    assert_eq!(d.verdict, verdict, "{:#?}", d.explanation.findings);
    assert_eq!(d.routes, routes, "{:#?}", d.explanation.findings);
}

/// Settings with the default effect `allow`, so that a request no rule
/// applies to is visibly allowed.
fn defaults() -> Value {
    json!({"default_effect": "allow"})
}

/// [`defaults`] plus a `fleet` layer setting `rules` of `pack`.
fn fleet(pack: &str, rules: Value) -> Value {
    json!({"default_effect": "allow",
           "layers": [{"name": "fleet", "packs": {pack: rules}}]})
}

/// A money-moving request.
fn payment(
    tool: &str,
    class: &str,
    amount: Option<(i64, &str)>,
    counterparty: Option<&str>,
) -> Request {
    let mut extra = Map::new();
    if let Some((minor_units, currency)) = amount {
        extra.insert(
            "amount".into(),
            json!({"minor_units": minor_units, "currency": currency}),
        );
    }
    if let Some(c) = counterparty {
        extra.insert("counterparty".into(), json!(c));
    }
    request(tool, class, Value::Object(extra))
}

/// An invoice payment to `ACME GmbH`.
fn pay(minor_units: i64, currency: &str) -> Request {
    payment(
        "payments.pay_invoice",
        "financial",
        Some((minor_units, currency)),
        Some("ACME GmbH"),
    )
}

/// An invoice payment of 100.00 EUR to `counterparty`.
fn pay_to(counterparty: Option<&str>) -> Request {
    payment(
        "payments.pay_invoice",
        "financial",
        Some((100_00, "EUR")),
        counterparty,
    )
}

/// A tool call with arguments and tags.
fn call(tool: &str, class: &str, args: Value, tags: &[&str]) -> Request {
    request(tool, class, json!({"args": args, "tags": tags}))
}

const TREASURY: [&str; 1] = ["treasury"];
const PII: [&str; 1] = ["pii-strict"];
const EXT: [&str; 1] = ["external-tools-untrusted"];

// ---------------------------------------------------------------- treasury

/// `warden_host::BUILT_IN_PACKS` is the `packs/` folder: a pack added there
/// and not to the list (or the other way round) would be built by `cargo
/// xtask packs` but never registered by the demo, or not built at all.
#[test]
fn the_built_in_list_is_the_packs_folder() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packs");
    let mut folders: Vec<String> = std::fs::read_dir(&root)
        .unwrap()
        .map(|e| e.unwrap())
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().into_string().unwrap())
        .collect();
    folders.sort();
    let mut listed: Vec<String> = BUILT_IN.iter().map(|s| (*s).to_owned()).collect();
    listed.sort();
    assert_eq!(folders, listed);
}
