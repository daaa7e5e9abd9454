use super::{expect, pay, settings_error, verdict};
use serde_json::json;
use warden_sdk::Verdict;
use warden_sdk::testing::{disabled, settings};

const RULE: &str = "approval-threshold";

#[test]
fn an_amount_exactly_at_the_threshold_needs_no_approval() {
    assert_eq!(verdict(RULE, &pay(100_000, "EUR").build(), &[]), None);
    assert_eq!(verdict(RULE, &pay(80_000, "GBP").build(), &[]), None);
}

#[test]
fn one_cent_above_is_escalated_to_finance() {
    let f = expect(RULE, Verdict::Escalate, &pay(100_001, "EUR").build(), &[]);
    assert_eq!(
        f.reason,
        "1000.01 EUR is above the approval threshold of 1000.00 EUR"
    );
    assert_eq!(f.route.as_deref(), Some("finance"));
}

#[test]
fn each_currency_has_its_own_threshold() {
    let f = expect(RULE, Verdict::Escalate, &pay(80_001, "GBP").build(), &[]);
    assert_eq!(
        f.reason,
        "800.01 GBP is above the approval threshold of 800.00 GBP"
    );
    assert_eq!(verdict(RULE, &pay(90_000, "USD").build(), &[]), None);
}

#[test]
fn currencies_without_a_threshold_are_left_to_amount_limit() {
    let req = pay(50_000_000, "JPY").build();
    assert_eq!(verdict(RULE, &req, &[]), None);
    assert_eq!(verdict("amount-limit", &req, &[]), Some(Verdict::Escalate));
}

#[test]
fn above_the_limit_it_escalates_alongside_the_denial() {
    let req = pay(2_000_000, "EUR").build();
    assert_eq!(verdict(RULE, &req, &[]), Some(Verdict::Escalate));
    assert_eq!(verdict("amount-limit", &req, &[]), Some(Verdict::Deny));
}

#[test]
fn threshold_and_route_come_from_settings() {
    let s = [settings(
        RULE,
        json!({"threshold": ["50.00 EUR", "5000 JPY"], "route": "treasury-ops"}),
    )];
    let f = expect(RULE, Verdict::Escalate, &pay(5_001, "EUR").build(), &s);
    assert_eq!(
        f.reason,
        "50.01 EUR is above the approval threshold of 50.00 EUR"
    );
    assert_eq!(f.route.as_deref(), Some("treasury-ops"));
    let f = expect(RULE, Verdict::Escalate, &pay(5_001, "JPY").build(), &s);
    assert_eq!(
        f.reason,
        "5001 JPY is above the approval threshold of 5000 JPY"
    );
    // USD is no longer listed.
    assert_eq!(verdict(RULE, &pay(500_000, "USD").build(), &s), None);
}

#[test]
fn a_blank_route_gives_no_route_hint() {
    let s = [settings(RULE, json!({"route": "  "}))];
    let f = expect(RULE, Verdict::Escalate, &pay(100_001, "EUR").build(), &s);
    assert_eq!(f.route, None);
}

#[test]
fn large_refunds_need_approval_too() {
    let f = expect(RULE, Verdict::Escalate, &pay(-150_000, "EUR").build(), &[]);
    assert_eq!(
        f.reason,
        "a refund/reversal of 1500.00 EUR is above the approval threshold of 1000.00 EUR"
    );
}

#[test]
fn disabled_in_settings_it_says_nothing() {
    assert_eq!(
        verdict(RULE, &pay(500_000, "EUR").build(), &[disabled(RULE)]),
        None
    );
}

#[test]
fn bad_params_name_the_rule_and_the_field() {
    let e = settings_error(RULE, json!({"threshold": "1000.00 EUR"}));
    assert!(
        e.contains("`approval-threshold`") && e.contains("threshold"),
        "{e}"
    );
    let e = settings_error(RULE, json!({"threshold": ["1000,00 EUR"]}));
    assert!(
        e.contains("threshold") && e.contains("not a decimal number"),
        "{e}"
    );
    let e = settings_error(RULE, json!({"route": 7}));
    assert!(
        e.contains("`approval-threshold`") && e.contains("`route`"),
        "{e}"
    );
}
