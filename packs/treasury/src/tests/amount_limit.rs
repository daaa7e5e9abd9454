use super::{expect, finding, pay, settings_error, verdict};
use serde_json::json;
use warden_sdk::testing::{RequestBuilder, disabled, settings};
use warden_sdk::{SafetyClass, Verdict};

const RULE: &str = "amount-limit";

#[test]
fn an_amount_exactly_at_the_limit_passes() {
    assert_eq!(verdict(RULE, &pay(1_000_000, "EUR").build(), &[]), None);
    assert_eq!(verdict(RULE, &pay(800_000, "GBP").build(), &[]), None);
}

#[test]
fn one_cent_above_the_limit_is_denied_with_both_amounts_in_the_reason() {
    let f = expect(RULE, Verdict::Deny, &pay(1_000_001, "EUR").build(), &[]);
    assert_eq!(f.reason, "10000.01 EUR exceeds the limit of 10000.00 EUR");
    assert_eq!(f.route, None);
}

#[test]
fn each_currency_has_its_own_limit() {
    let f = expect(RULE, Verdict::Deny, &pay(800_001, "GBP").build(), &[]);
    assert_eq!(f.reason, "8000.01 GBP exceeds the limit of 8000.00 GBP");
    // 9000 USD is above the GBP limit but below the USD one.
    assert_eq!(verdict(RULE, &pay(900_000, "USD").build(), &[]), None);
    let f = expect(RULE, Verdict::Deny, &pay(1_250_000, "USD").build(), &[]);
    assert_eq!(f.reason, "12500.00 USD exceeds the limit of 10000.00 USD");
}

#[test]
fn a_currency_without_a_limit_is_escalated_to_finance_by_default() {
    let f = expect(RULE, Verdict::Escalate, &pay(5_000, "JPY").build(), &[]);
    assert_eq!(
        f.reason,
        "no limit is configured for JPY, so 5000 JPY cannot be checked against one"
    );
    assert_eq!(f.route.as_deref(), Some("finance"));
}

#[test]
fn unknown_currency_can_deny_or_pass() {
    let req = pay(5_000, "JPY").build();
    let deny = settings(RULE, json!({"unknown_currency": "deny"}));
    let f = expect(RULE, Verdict::Deny, &req, &[deny]);
    assert_eq!(f.route, None);
    let pass = settings(RULE, json!({"unknown_currency": "pass"}));
    assert_eq!(verdict(RULE, &req, &[pass]), None);
}

#[test]
fn jpy_limits_have_no_decimals() {
    let s = [settings(RULE, json!({"max": ["1000000 JPY"]}))];
    assert_eq!(verdict(RULE, &pay(1_000_000, "JPY").build(), &s), None);
    let f = expect(RULE, Verdict::Deny, &pay(1_000_001, "JPY").build(), &s);
    assert_eq!(f.reason, "1000001 JPY exceeds the limit of 1000000 JPY");
    // The override replaced the list: EUR now has no limit and escalates.
    assert_eq!(
        verdict(RULE, &pay(100, "EUR").build(), &s),
        Some(Verdict::Escalate)
    );
}

#[test]
fn a_lowered_limit_from_settings_applies() {
    let s = [settings(RULE, json!({"max": ["500.00 EUR"]}))];
    assert_eq!(verdict(RULE, &pay(50_000, "EUR").build(), &s), None);
    let f = expect(RULE, Verdict::Deny, &pay(50_001, "EUR").build(), &s);
    assert_eq!(f.reason, "500.01 EUR exceeds the limit of 500.00 EUR");
}

#[test]
fn a_currency_listed_twice_gets_the_lower_limit() {
    let s = [settings(
        RULE,
        json!({"max": ["10000.00 EUR", "5000.00 EUR"]}),
    )];
    let f = expect(RULE, Verdict::Deny, &pay(600_000, "EUR").build(), &s);
    assert_eq!(f.reason, "6000.00 EUR exceeds the limit of 5000.00 EUR");
}

#[test]
fn large_refunds_count_by_their_size() {
    let req = RequestBuilder::new("shop.refund_order", SafetyClass::Financial)
        .amount(-1_250_000, "EUR")
        .build();
    let f = expect(RULE, Verdict::Deny, &req, &[]);
    assert_eq!(
        f.reason,
        "a refund/reversal of 12500.00 EUR exceeds the limit of 10000.00 EUR"
    );
    let small = RequestBuilder::new("shop.refund_order", SafetyClass::Financial)
        .amount(-1_000_000, "EUR")
        .build();
    assert_eq!(verdict(RULE, &small, &[]), None);
}

#[test]
fn the_most_negative_amount_is_denied_without_overflow() {
    let req = pay(i64::MIN, "EUR").build();
    assert_eq!(verdict(RULE, &req, &[]), Some(Verdict::Deny));
}

#[test]
fn a_lower_case_currency_in_the_request_still_meets_its_limit() {
    let f = expect(RULE, Verdict::Deny, &pay(1_000_001, "eur").build(), &[]);
    assert!(f.reason.contains("limit of 10000.00 EUR"), "{}", f.reason);
}

#[test]
fn a_payment_without_an_amount_is_left_to_non_positive_amount() {
    let req = RequestBuilder::new("payments.pay_invoice", SafetyClass::Financial).build();
    assert_eq!(verdict(RULE, &req, &[]), None);
    assert_eq!(
        verdict("non-positive-amount", &req, &[]),
        Some(Verdict::Deny)
    );
}

#[test]
fn disabled_in_settings_it_says_nothing() {
    let req = pay(5_000_000, "EUR").build();
    assert_eq!(finding(RULE, &req, &[disabled(RULE)]), None);
    // Other rules still run.
    assert_eq!(
        verdict("approval-threshold", &req, &[disabled(RULE)]),
        Some(Verdict::Escalate)
    );
}

#[test]
fn bad_params_name_the_rule_and_the_field() {
    let e = settings_error(RULE, json!({"max": ["10000 EURO"]}));
    assert!(e.contains("`amount-limit`") && e.contains("max"), "{e}");
    let e = settings_error(RULE, json!({"max": ["-5.00 EUR"]}));
    assert!(e.contains("`amount-limit`") && e.contains("`max`"), "{e}");
    assert!(e.contains("negative"), "{e}");
    let e = settings_error(RULE, json!({"max": ["1.5 JPY"]}));
    assert!(e.contains("max") && e.contains("more decimals"), "{e}");
    let e = settings_error(RULE, json!({"unknown_currency": "block"}));
    assert!(
        e.contains("`amount-limit`") && e.contains("`unknown_currency`"),
        "{e}"
    );
    let e = settings_error(RULE, json!({"maximum": ["1.00 EUR"]}));
    assert!(e.contains("`amount-limit`") && e.contains("maximum"), "{e}");
}
