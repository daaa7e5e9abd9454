//! Packs that misbehave fail closed: the decision is a deny naming the pack
//! and the failure, the host survives, and the next request is served.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use warden_host::{Isolation, PACK_FAILURE_RULE, Verdict};
use warden_testkit::engine::{compose, request, with_isolation};

const BOTH: [Isolation; 2] = [Isolation::Fresh, Isolation::Reuse];

fn assert_fails_closed(tool: &str, expect: &str) {
    for iso in BOTH {
        let c = compose("acme", &["hostile"], with_isolation(iso));
        let d = c.evaluate(&request(tool, "write", json!({})));
        assert_eq!(d.verdict, Verdict::Deny, "{tool} {iso:?}: {d:?}");
        let f = &d.explanation.findings;
        assert_eq!(
            f.len(),
            1,
            "{tool}: only the failure finding is kept: {f:?}"
        );
        assert_eq!(f[0].rule, PACK_FAILURE_RULE);
        assert!(f[0].fail_closed);
        assert!(
            f[0].reason.contains("pack `hostile@0.1.0`") && f[0].reason.contains(expect),
            "{tool} {iso:?}: {}",
            f[0].reason
        );
        let status = &d.explanation.packs[0].status;
        assert!(
            status != "ok" && f[0].reason.contains(status.as_str()),
            "{status}"
        );
        // The host is fine and the same composition serves the next request.
        let next = c.evaluate(&request("fine", "write", json!({})));
        assert_eq!(
            next.verdict,
            Verdict::Allow,
            "{tool} {iso:?} then: {next:?}"
        );
    }
}

#[test]
fn an_endless_loop_hits_the_deadline() {
    assert_fails_closed("loop", "exceeded its deadline");
}

#[test]
fn a_panic_is_a_trap() {
    assert_fails_closed("panic", "trapped");
}

#[test]
fn allocating_forever_hits_the_memory_cap() {
    assert_fails_closed("alloc", "memory limit");
}

#[test]
fn a_flood_of_findings_is_refused() {
    assert_fails_closed("flood", "5000 findings, more than the limit of 256");
}

#[test]
fn an_oversized_reason_is_refused() {
    assert_fails_closed("big-reason", "longer than the limit of 4096 bytes");
}

#[test]
fn a_finding_for_an_undeclared_rule_is_refused() {
    assert_fails_closed("undeclared", "rule `not-a-rule`, which it does not declare");
}

#[test]
fn an_error_result_denies_with_the_message() {
    assert_fails_closed("error", "hostile pack refuses on purpose");
}

#[test]
fn fresh_instances_share_nothing_between_decisions() {
    let c = compose("acme", &["hostile"], with_isolation(Isolation::Fresh));
    for _ in 0..3 {
        let d = c.evaluate(&request("count", "write", json!({})));
        assert_eq!(d.explanation.findings[0].reason, "call 1");
        assert!(!d.explanation.packs[0].reused_instance);
    }
}

#[test]
fn reused_instances_are_recycled_after_max_uses_and_after_a_trap() {
    let c = compose(
        "acme",
        &["hostile"],
        json!({"isolation": "reuse", "max_uses": 3}),
    );
    let calls = |c: &warden_host::Composition| {
        c.evaluate(&request("count", "write", json!({})))
            .explanation
            .findings[0]
            .reason
            .clone()
    };
    assert_eq!(calls(&c), "call 1");
    assert_eq!(calls(&c), "call 2");
    assert_eq!(calls(&c), "call 3");
    assert_eq!(calls(&c), "call 1", "recycled after 3 uses");
    assert_eq!(calls(&c), "call 2");
    c.evaluate(&request("panic", "write", json!({})));
    // The trapped instance was dropped; the pool had none idle, so a fresh one runs.
    assert_eq!(calls(&c), "call 1");
}

#[test]
fn instances_are_never_shared_across_tenants() {
    let a = compose("acme", &["hostile"], with_isolation(Isolation::Reuse));
    let b = compose("globex", &["hostile"], with_isolation(Isolation::Reuse));
    let mut req = request("count", "write", json!({}));
    assert_eq!(a.evaluate(&req).explanation.findings[0].reason, "call 1");
    assert_eq!(a.evaluate(&req).explanation.findings[0].reason, "call 2");
    req.tenant = "globex".to_owned();
    assert_eq!(b.evaluate(&req).explanation.findings[0].reason, "call 1");
    // A request for another tenant is refused, not evaluated with acme's instances.
    let d = a.evaluate(&req);
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.explanation.findings[0].rule, "warden:tenant-mismatch");
}

#[test]
fn many_threads_evaluate_one_composition_with_hostile_requests_interleaved() {
    let c = std::sync::Arc::new(compose(
        "acme",
        &["hostile"],
        with_isolation(Isolation::Reuse),
    ));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let c = c.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let tool = if (i + t) % 10 == 0 { "panic" } else { "fine" };
                    let d = c.evaluate(&request(tool, "write", json!({})));
                    let want = if tool == "panic" {
                        Verdict::Deny
                    } else {
                        Verdict::Allow
                    };
                    assert_eq!(d.verdict, want);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

#[test]
fn a_malformed_currency_built_in_code_is_denied_before_any_pack_runs() {
    let c = compose("acme", &["hostile"], with_isolation(Isolation::Fresh));
    let mut req = request("fine", "financial", json!({}));
    req.action.amount = Some(warden_host::Money {
        minor_units: 200_000_000,
        currency: "EUR ".to_owned(),
    });
    let d = c.evaluate(&req);
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.explanation.findings[0].rule, "warden:invalid-request");
    assert!(d.explanation.packs.is_empty(), "no pack ran");
    assert!(d.reason.contains("`EUR `"), "{}", d.reason);
}
