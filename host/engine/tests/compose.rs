//! Compositions: override layers, restrict-only layers, combining, the
//! explanation, default effect, and evaluation from threads and tokio.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::sync::Arc;
use warden_host::{
    Basis, ComposeError, Composition, CompositionSpec, DEFAULTS, Isolation, Verdict,
};
use warden_testkit::engine::{compose, pack, request};

fn payment(minor_units: i64, currency: &str) -> warden_host::Request {
    request(
        "payments.pay_invoice",
        "financial",
        json!({"amount": {"minor_units": minor_units, "currency": currency},
               "counterparty": "ACME GmbH"}),
    )
}

fn build(packs: &[&str], spec: serde_json::Value) -> Result<Composition, ComposeError> {
    let spec: CompositionSpec = serde_json::from_value(spec).unwrap();
    Composition::build("acme", packs.iter().map(|n| pack(n)).collect(), &spec)
}

#[test]
fn defaults_decide_allow_escalate_and_deny() {
    let c = compose("acme", &["treasury"], json!({"default_effect": "allow"}));
    assert_eq!(c.evaluate(&payment(100_00, "EUR")).verdict, Verdict::Allow);
    let esc = c.evaluate(&payment(5_000_00, "EUR"));
    assert_eq!(esc.verdict, Verdict::Escalate, "{esc:?}");
    assert!(!esc.routes.is_empty(), "escalations carry a route hint");
    let deny = c.evaluate(&payment(20_000_00, "EUR"));
    assert_eq!(deny.verdict, Verdict::Deny);
    assert!(
        deny.reason.contains("treasury/amount-limit"),
        "{}",
        deny.reason
    );
    let f = deny
        .explanation
        .findings
        .iter()
        .find(|f| f.rule == "amount-limit")
        .unwrap();
    assert_eq!(f.pack, "treasury");
    assert_eq!(f.version, "1.0.0");
    assert!(f.digest.starts_with("sha256:"));
}

#[test]
fn nothing_applied_means_the_default_effect() {
    let read = request("crm.lookup", "read-only", json!({}));
    let deny = compose("acme", &["treasury"], json!({}));
    let d = deny.evaluate(&read);
    assert_eq!(
        (d.verdict, d.explanation.basis),
        (Verdict::Deny, Basis::DefaultEffect)
    );
    assert!(d.reason.contains("default effect"), "{}", d.reason);
    let allow = compose("acme", &["treasury"], json!({"default_effect": "allow"}));
    assert_eq!(allow.evaluate(&read).verdict, Verdict::Allow);
}

#[test]
fn layers_set_params_and_the_explanation_names_them() {
    let c = compose(
        "acme",
        &["treasury"],
        json!({"layers": [
            {"name": "fleet", "packs": {"treasury": {"amount-limit": {"params": {"max": ["50.00 EUR"]}}}}},
            {"name": "tenant:acme", "packs": {"treasury": {"amount-limit": {"params": {"unknown_currency": "deny"}}}}}
        ]}),
    );
    let d = c.evaluate(&payment(60_00, "EUR"));
    assert_eq!(d.verdict, Verdict::Deny, "{d:?}");
    let run = &d.explanation.packs[0];
    let eff = run
        .settings
        .iter()
        .find(|e| e.rule == "amount-limit")
        .unwrap();
    assert_eq!(eff.param_sources["max"], "fleet");
    assert_eq!(eff.param_sources["unknown_currency"], "tenant:acme");
    assert_eq!(eff.param_sources["tools"], DEFAULTS);
    assert_eq!(eff.params["max"], json!(["50.00 EUR"]));
    assert_eq!(*d.explanation.layers, vec!["fleet", "tenant:acme"]);
    // Unknown currency now denies because of the tenant layer.
    assert_eq!(c.evaluate(&payment(1, "SEK")).verdict, Verdict::Deny);
}

#[test]
fn layers_enable_disable_and_replace_verdicts() {
    let c = compose(
        "acme",
        &["treasury"],
        json!({"default_effect": "allow", "layers": [
            {"name": "fleet", "packs": {"treasury": {
                "amount-limit": {"verdict": "escalate"},
                "approval-threshold": {"enabled": false}}}}
        ]}),
    );
    let d = c.evaluate(&payment(20_000_00, "EUR"));
    assert_eq!(d.verdict, Verdict::Escalate, "{d:?}");
    let f = &d.explanation.findings[0];
    assert_eq!(f.rule, "amount-limit");
    assert_eq!(f.pack_verdict, Some(Verdict::Deny));
    assert_eq!(f.verdict_by.as_deref(), Some("fleet"));
    // approval-threshold is off: a mid-size payment is allowed.
    assert_eq!(
        c.evaluate(&payment(5_000_00, "EUR")).verdict,
        Verdict::Allow
    );
    let eff = c.settings("treasury").unwrap();
    let t = eff.iter().find(|e| e.rule == "approval-threshold").unwrap();
    assert!(!t.enabled);
    assert_eq!(t.enabled_by, "fleet");
}

#[test]
fn restrict_only_layers_may_tighten() {
    let c = build(
        &["treasury"],
        json!({"layers": [{"name": "tenant:acme", "restrict_only": true, "packs": {"treasury": {
            "amount-limit": {"params": {"max": ["100.00 EUR", "100.00 USD", "100.00 GBP", "100.00 CHF"]},
                             "verdict": "deny"},
            "counterparty-allowlist": {"enabled": true}}}}]}),
    )
    .unwrap();
    assert_eq!(c.evaluate(&payment(200_00, "EUR")).verdict, Verdict::Deny);
}

fn loosening(overrides: serde_json::Value) -> String {
    let err = build(
        &["treasury"],
        json!({"layers": [
            {"name": "fleet", "packs": {"treasury": {"counterparty-allowlist": {"enabled": true}}}},
            {"name": "tenant:acme", "restrict_only": true, "packs": {"treasury": overrides}}]}),
    )
    .unwrap_err();
    assert!(matches!(err, ComposeError::Loosens { .. }), "{err}");
    err.to_string()
}

#[test]
fn restrict_only_layers_that_loosen_are_rejected_naming_layer_and_rule() {
    let e = loosening(json!({"amount-limit": {"enabled": false}}));
    assert_eq!(
        e,
        "restrict-only layer `tenant:acme` loosens rule `amount-limit` of pack `treasury`: it disables the rule"
    );
    let e = loosening(
        json!({"amount-limit": {"params": {"max": ["90000.00 EUR", "10000.00 USD", "8000.00 GBP", "10000.00 CHF"]}}}),
    );
    assert!(
        e.contains("parameter `max`: 90000 EUR is higher than 10000 EUR"),
        "{e}"
    );
    let e = loosening(json!({"amount-limit": {"verdict": "escalate"}}));
    assert!(e.contains("may only change it to `deny`"), "{e}");
    let e = loosening(json!({"amount-limit": {"params": {"route": "nobody"}}}));
    assert!(
        e.contains("parameter `route` declares no strictness"),
        "{e}"
    );
    let e = loosening(json!({"amount-limit": {"params": {"tools": []}}}));
    assert!(e.contains("parameter `tools`: it removes"), "{e}");
    // The fleet layer enabled the allowlist; the tenant may not turn it off.
    let e = loosening(json!({"counterparty-allowlist": {"enabled": false}}));
    assert!(e.contains("rule `counterparty-allowlist`"), "{e}");
}

#[test]
fn bad_documents_are_rejected_naming_what_is_wrong() {
    let err = build(
        &["treasury"],
        json!({"layers": [{"name": "fleet", "packs": {"tresury": {}}}]}),
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        "layer `fleet` configures pack `tresury`, which is not in the composition"
    );
    let err = build(
        &["treasury"],
        json!({"layers": [{"name": "fleet", "packs": {"treasury": {"amount-limt": {"enabled": true}}}}]}),
    );
    assert_eq!(
        err.unwrap_err().to_string(),
        "layer `fleet` configures rule `amount-limt`, which pack `treasury` does not declare"
    );
    let err = build(
        &["treasury"],
        json!({"layers": [{"name": "tenant:acme", "packs": {"treasury": {"amount-limit": {"params": {"max": "lots"}}}}}]}),
    )
    .unwrap_err();
    let ComposeError::BadParams {
        pack,
        layer,
        message,
    } = &err
    else {
        panic!("{err}");
    };
    assert_eq!((pack.as_str(), layer.as_str()), ("treasury", "tenant:acme"));
    assert!(
        message.contains("rule `amount-limit`") && message.contains("`max`"),
        "{message}"
    );
    let err = build(&["treasury", "treasury"], json!({})).unwrap_err();
    assert_eq!(err, ComposeError::DuplicatePack("treasury".into()));
    let err = build(
        &["treasury"],
        json!({"layers": [{"name": "a"}, {"name": "a"}]}),
    )
    .unwrap_err();
    assert_eq!(err, ComposeError::DuplicateLayer("a".into()));
    let err = Composition::build("acme", vec![], &CompositionSpec::default()).unwrap_err();
    assert_eq!(err, ComposeError::NoPacks);
    let err = CompositionSpec::from_json(r#"{"isolation": "shared"}"#).unwrap_err();
    assert!(err.to_string().contains("field `isolation`"), "{err}");
}

#[test]
fn three_packs_combine_deny_over_escalate() {
    let c = compose(
        "acme",
        &["treasury", "pii-strict", "external-tools-untrusted"],
        json!({}),
    );
    // A mid-size payment (escalate) with untrusted input (deny): deny wins.
    let mut req = payment(5_000_00, "EUR");
    req.action.tags.push("untrusted-input".into());
    let d = c.evaluate(&req);
    assert_eq!(d.verdict, Verdict::Deny, "{d:?}");
    assert!(
        d.explanation
            .findings
            .iter()
            .any(|f| f.verdict == Verdict::Escalate)
    );
    assert!(d.routes.is_empty(), "routes only for escalations");
    assert_eq!(d.explanation.packs.len(), 3);
    assert!(d.explanation.packs.iter().all(|p| p.status == "ok"));
}

#[test]
fn both_isolation_modes_decide_the_same() {
    let fresh = compose(
        "acme",
        &["treasury", "pii-strict", "external-tools-untrusted"],
        json!({"isolation": "fresh"}),
    );
    let reuse = compose(
        "acme",
        &["treasury", "pii-strict", "external-tools-untrusted"],
        json!({"isolation": "reuse"}),
    );
    assert_eq!(reuse.isolation(), Isolation::Reuse);
    for amount in [1_00, 5_000_00, 50_000_00, -5] {
        for _ in 0..3 {
            let (a, b) = (
                fresh.evaluate(&payment(amount, "EUR")),
                reuse.evaluate(&payment(amount, "EUR")),
            );
            assert_eq!(a.verdict, b.verdict);
            assert_eq!(a.explanation.findings, b.explanation.findings);
        }
    }
    assert!(reuse.idle_instances().iter().all(|(_, n)| *n >= 1));
    assert!(fresh.idle_instances().iter().all(|(_, n)| *n == 0));
}

#[test]
fn tokio_callers_get_decisions_without_blocking_the_runtime() {
    let c = Arc::new(compose(
        "acme",
        &["treasury"],
        json!({"isolation": "reuse", "default_effect": "allow"}),
    ));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .unwrap();
    let verdicts = rt.block_on(async {
        let mut tasks = Vec::new();
        for i in 0..64 {
            let c = c.clone();
            tasks.push(tokio::spawn(async move {
                let amount = if i % 2 == 0 { 1_00 } else { 20_000_00 };
                let d = c.evaluate_async(payment(amount, "EUR")).await;
                (d.verdict, d.reason)
            }));
        }
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        out
    });
    for (i, (v, reason)) in verdicts.iter().enumerate() {
        assert_eq!(
            *v,
            if i % 2 == 0 {
                Verdict::Allow
            } else {
                Verdict::Deny
            },
            "{reason}"
        );
    }
}
