use super::{expect, finding, pay, settings_error, verdict};
use serde_json::json;
use warden_sdk::testing::{RequestBuilder, settings};
use warden_sdk::{PackInfo, SafetyClass, Verdict};

const RULE: &str = "counterparty-allowlist";

fn allowing(params: serde_json::Value) -> [warden_sdk::RuleSettings; 1] {
    [settings(RULE, params)]
}

fn standard() -> [warden_sdk::RuleSettings; 1] {
    allowing(json!({"allowed": ["ACME GmbH", "*@example.com"]}))
}

#[test]
fn it_is_off_by_default() {
    let info: PackInfo = crate::PACK.info();
    let rule = info.rules.iter().find(|r| r.id == RULE).unwrap();
    assert!(!rule.default_enabled);
    let req = pay(100, "EUR").counterparty("Someone Unknown").build();
    assert_eq!(finding(RULE, &req, &[]), None);
}

#[test]
fn listed_counterparties_pass_whatever_their_case_and_spacing() {
    let req = pay(100, "EUR").counterparty(" acme   gmbh").build();
    assert_eq!(verdict(RULE, &req, &standard()), None);
    let req = pay(100, "EUR").counterparty("Billing@Example.com").build();
    assert_eq!(verdict(RULE, &req, &standard()), None);
}

#[test]
fn unlisted_counterparties_are_escalated_to_finance() {
    let req = pay(100, "EUR").counterparty("ACME Ltd").build();
    let f = expect(RULE, Verdict::Escalate, &req, &standard());
    assert_eq!(
        f.reason,
        "counterparty `ACME Ltd` is not on the counterparty allowlist"
    );
    assert_eq!(f.route.as_deref(), Some("finance"));
}

#[test]
fn unlisted_counterparties_can_be_denied_instead() {
    let s = allowing(json!({"allowed": ["ACME GmbH"], "unknown": "deny"}));
    let req = pay(100, "EUR").counterparty("ACME Ltd").build();
    let f = expect(RULE, Verdict::Deny, &req, &s);
    assert_eq!(f.route, None);
}

#[test]
fn a_payment_naming_no_counterparty_is_escalated_with_the_reason() {
    let req = RequestBuilder::new("payments.pay_invoice", SafetyClass::Financial)
        .amount(100, "EUR")
        .build();
    let f = expect(RULE, Verdict::Escalate, &req, &standard());
    assert_eq!(
        f.reason,
        "`payments.pay_invoice` is a payment but names no counterparty, so it cannot be \
         checked against the counterparty allowlist"
    );
    let s = allowing(json!({"allowed": ["ACME GmbH"], "unknown": "deny"}));
    assert_eq!(verdict(RULE, &req, &s), Some(Verdict::Deny));
}

#[test]
fn a_blank_counterparty_counts_as_none() {
    let req = pay(100, "EUR").counterparty("   ").build();
    let f = expect(RULE, Verdict::Escalate, &req, &standard());
    assert!(f.reason.contains("names no counterparty"), "{}", f.reason);
}

#[test]
fn an_empty_allowlist_escalates_every_payment_and_says_so() {
    let s = allowing(json!({}));
    let f = expect(RULE, Verdict::Escalate, &pay(100, "EUR").build(), &s);
    assert_eq!(
        f.reason,
        "counterparty `ACME GmbH` is not on the counterparty allowlist (the allowlist is empty)"
    );
}

#[test]
fn the_route_comes_from_settings() {
    let s = allowing(json!({"allowed": [], "route": "procurement"}));
    let f = expect(RULE, Verdict::Escalate, &pay(100, "EUR").build(), &s);
    assert_eq!(f.route.as_deref(), Some("procurement"));
}

#[test]
fn reads_are_not_payments() {
    let req = RequestBuilder::new("treasury.get_balance", SafetyClass::ReadOnly).build();
    assert_eq!(verdict(RULE, &req, &standard()), None);
}

#[test]
fn bad_params_name_the_rule_and_the_field() {
    let e = settings_error(RULE, json!({"unknown": "pass"}));
    assert!(
        e.contains("`counterparty-allowlist`") && e.contains("`unknown`"),
        "{e}"
    );
    let e = settings_error(RULE, json!({"allowed": [1]}));
    assert!(
        e.contains("`counterparty-allowlist`") && e.contains("allowed"),
        "{e}"
    );
}
