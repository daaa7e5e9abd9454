use super::{expect, pay, settings_error, verdict};
use serde_json::json;
use warden_sdk::testing::{RequestBuilder, disabled, settings};
use warden_sdk::{SafetyClass, Verdict};

const RULE: &str = "non-positive-amount";

fn refund(minor: i64) -> warden_sdk::Request {
    RequestBuilder::new("shop.refund_order", SafetyClass::Financial)
        .amount(minor, "EUR")
        .build()
}

#[test]
fn a_zero_payment_is_denied() {
    let f = expect(RULE, Verdict::Deny, &pay(0, "EUR").build(), &[]);
    assert_eq!(
        f.reason,
        "the amount 0.00 EUR is zero; `payments.pay_invoice` must move a positive amount \
         (only refund tools may carry negative amounts)"
    );
    let f = expect(RULE, Verdict::Deny, &pay(0, "JPY").build(), &[]);
    assert!(
        f.reason.starts_with("the amount 0 JPY is zero"),
        "{}",
        f.reason
    );
}

#[test]
fn a_negative_payment_is_denied() {
    let f = expect(RULE, Verdict::Deny, &pay(-1, "USD").build(), &[]);
    assert!(
        f.reason.starts_with("the amount -0.01 USD is negative"),
        "{}",
        f.reason
    );
}

#[test]
fn the_smallest_positive_amount_passes() {
    assert_eq!(verdict(RULE, &pay(1, "EUR").build(), &[]), None);
    assert_eq!(verdict(RULE, &pay(1, "JPY").build(), &[]), None);
}

#[test]
fn refund_tools_may_carry_negative_amounts() {
    assert_eq!(verdict(RULE, &refund(-5_000), &[]), None);
    assert_eq!(verdict(RULE, &refund(0), &[]), None);
}

#[test]
fn without_exemptions_refunds_must_be_positive_too() {
    let s = [settings(RULE, json!({"exempt_tools": []}))];
    assert_eq!(verdict(RULE, &refund(-5_000), &s), Some(Verdict::Deny));
}

#[test]
fn a_payment_without_an_amount_is_denied() {
    let req = RequestBuilder::new("payments.pay_invoice", SafetyClass::Financial).build();
    let f = expect(RULE, Verdict::Deny, &req, &[]);
    assert_eq!(
        f.reason,
        "`payments.pay_invoice` is a payment but carries no amount, so its size cannot be checked"
    );
    // Refund tools are exempt from the sign check, not from having an amount.
    let req = RequestBuilder::new("shop.refund_order", SafetyClass::Write).build();
    assert_eq!(verdict(RULE, &req, &[]), Some(Verdict::Deny));
}

#[test]
fn a_missing_amount_can_be_allowed() {
    let s = [settings(RULE, json!({"require_amount": false}))];
    let req = RequestBuilder::new("payments.pay_invoice", SafetyClass::Financial).build();
    assert_eq!(verdict(RULE, &req, &s), None);
    // The sign check still applies.
    assert_eq!(
        verdict(RULE, &pay(0, "EUR").build(), &s),
        Some(Verdict::Deny)
    );
}

#[test]
fn reading_a_balance_needs_no_amount() {
    let req = RequestBuilder::new("treasury.get_balance", SafetyClass::ReadOnly).build();
    assert_eq!(verdict(RULE, &req, &[]), None);
}

#[test]
fn disabled_in_settings_it_says_nothing() {
    assert_eq!(
        verdict(RULE, &pay(0, "EUR").build(), &[disabled(RULE)]),
        None
    );
}

#[test]
fn bad_params_name_the_rule_and_the_field() {
    let e = settings_error(RULE, json!({"require_amount": "yes"}));
    assert!(
        e.contains("`non-positive-amount`") && e.contains("`require_amount`"),
        "{e}"
    );
    let e = settings_error(RULE, json!({"exempt_tools": "*.refund*"}));
    assert!(
        e.contains("`non-positive-amount`") && e.contains("`exempt_tools`"),
        "{e}"
    );
}
