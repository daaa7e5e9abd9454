use super::{expect, pay, settings_error, verdict};
use serde_json::json;
use warden_sdk::testing::{RequestBuilder, disabled, settings};
use warden_sdk::{SafetyClass, Verdict};

const RULE: &str = "currency-allowlist";

#[test]
fn the_default_currencies_pass() {
    for c in ["EUR", "USD", "GBP", "CHF"] {
        assert_eq!(verdict(RULE, &pay(100, c).build(), &[]), None, "{c}");
    }
}

#[test]
fn other_currencies_are_denied_with_the_allowed_list() {
    let f = expect(RULE, Verdict::Deny, &pay(5_000, "JPY").build(), &[]);
    assert_eq!(
        f.reason,
        "5000 JPY is in currency `JPY`, which is not allowed (allowed: EUR, USD, GBP, CHF)"
    );
}

#[test]
fn request_currencies_compare_case_insensitively() {
    assert_eq!(verdict(RULE, &pay(100, "usd").build(), &[]), None);
}

#[test]
fn settings_currencies_may_be_in_any_case() {
    let s = [settings(RULE, json!({"currencies": ["eur", " chf "]}))];
    assert_eq!(verdict(RULE, &pay(100, "EUR").build(), &s), None);
    assert_eq!(verdict(RULE, &pay(100, "CHF").build(), &s), None);
    let f = expect(RULE, Verdict::Deny, &pay(100, "USD").build(), &s);
    assert!(f.reason.ends_with("(allowed: EUR, CHF)"), "{}", f.reason);
}

#[test]
fn an_empty_list_denies_every_currency() {
    let s = [settings(RULE, json!({"currencies": []}))];
    let f = expect(RULE, Verdict::Deny, &pay(100, "EUR").build(), &s);
    assert!(f.reason.ends_with("(allowed: none)"), "{}", f.reason);
}

#[test]
fn a_payment_without_an_amount_has_no_currency_to_check() {
    let req = RequestBuilder::new("payments.pay_invoice", SafetyClass::Financial).build();
    assert_eq!(verdict(RULE, &req, &[]), None);
}

#[test]
fn disabled_in_settings_it_says_nothing() {
    assert_eq!(
        verdict(RULE, &pay(100, "JPY").build(), &[disabled(RULE)]),
        None
    );
}

#[test]
fn bad_params_name_the_rule_and_the_field() {
    let e = settings_error(RULE, json!({"currencies": ["EUR", "EURO"]}));
    assert!(
        e.contains("`currency-allowlist`") && e.contains("currencies"),
        "{e}"
    );
    assert!(e.contains("`EURO` is not an ISO 4217 currency code"), "{e}");
    let e = settings_error(RULE, json!({"currency": ["EUR"]}));
    assert!(
        e.contains("`currency-allowlist`") && e.contains("currency"),
        "{e}"
    );
}
