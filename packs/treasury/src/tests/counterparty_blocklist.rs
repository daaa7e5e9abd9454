use super::{expect, pay, settings_error, verdict};
use serde_json::json;
use warden_sdk::testing::{RequestBuilder, disabled, settings};
use warden_sdk::{SafetyClass, Verdict};

const RULE: &str = "counterparty-blocklist";

fn blocking(patterns: serde_json::Value) -> [warden_sdk::RuleSettings; 1] {
    [settings(RULE, json!({ "blocked": patterns }))]
}

#[test]
fn the_default_blocklist_is_empty() {
    assert_eq!(
        verdict(
            RULE,
            &pay(100, "EUR").counterparty("Evil Corp").build(),
            &[]
        ),
        None
    );
}

#[test]
fn a_blocked_counterparty_is_denied_whatever_its_case_and_spacing() {
    let s = blocking(json!(["Evil Corp"]));
    let req = pay(100, "EUR").counterparty("  evil   CORP ").build();
    let f = expect(RULE, Verdict::Deny, &req, &s);
    assert_eq!(
        f.reason,
        "counterparty `evil CORP` is blocked (matches blocklist entry `Evil Corp`)"
    );
}

#[test]
fn blocklist_entries_are_trimmed_and_case_insensitive_too() {
    let s = blocking(json!(["  EVIL CORP  "]));
    let req = pay(100, "EUR").counterparty("Evil Corp").build();
    assert_eq!(verdict(RULE, &req, &s), Some(Verdict::Deny));
}

#[test]
fn an_entry_without_wildcards_matches_the_whole_name_only() {
    let s = blocking(json!(["Evil Corp"]));
    let req = pay(100, "EUR").counterparty("Evil Corporation").build();
    assert_eq!(verdict(RULE, &req, &s), None);
}

#[test]
fn glob_entries_block_every_match() {
    let s = blocking(json!(["*sanctioned*", "shell co ?"]));
    let req = pay(100, "EUR")
        .counterparty("Totally SANCTIONED Ltd")
        .build();
    let f = expect(RULE, Verdict::Deny, &req, &s);
    assert!(f.reason.contains("`*sanctioned*`"), "{}", f.reason);
    let req = pay(100, "EUR").counterparty("Shell Co 7").build();
    assert_eq!(verdict(RULE, &req, &s), Some(Verdict::Deny));
    let req = pay(100, "EUR").counterparty("Shell Co 77").build();
    assert_eq!(verdict(RULE, &req, &s), None);
}

#[test]
fn a_payment_without_a_counterparty_is_not_blocked() {
    let s = blocking(json!(["*"]));
    let req = RequestBuilder::new("payments.pay_invoice", SafetyClass::Financial)
        .amount(100, "EUR")
        .build();
    assert_eq!(verdict(RULE, &req, &s), None);
}

#[test]
fn non_payments_to_a_blocked_party_are_not_its_business() {
    let s = blocking(json!(["Evil Corp"]));
    let req = RequestBuilder::new("crm.update_contact", SafetyClass::Write)
        .counterparty("Evil Corp")
        .build();
    assert_eq!(verdict(RULE, &req, &s), None);
}

#[test]
fn disabled_in_settings_it_says_nothing() {
    let req = pay(100, "EUR").counterparty("Evil Corp").build();
    let mut s = disabled(RULE);
    s.params = json!({"blocked": ["Evil Corp"]}).to_string();
    assert_eq!(verdict(RULE, &req, &[s]), None);
}

#[test]
fn bad_params_name_the_rule_and_the_field() {
    let e = settings_error(RULE, json!({"blocked": "Evil Corp"}));
    assert!(
        e.contains("`counterparty-blocklist`") && e.contains("`blocked`"),
        "{e}"
    );
    let e = settings_error(RULE, json!({"blocklist": []}));
    assert!(
        e.contains("`counterparty-blocklist`") && e.contains("blocklist"),
        "{e}"
    );
}

#[test]
fn line_breaks_in_a_counterparty_cannot_break_up_the_reason() {
    let s = blocking(json!(["Evil Corp"]));
    let req = pay(100, "EUR").counterparty("Evil\nCorp").build();
    let f = expect(RULE, Verdict::Deny, &req, &s);
    assert!(!f.reason.contains('\n'), "{}", f.reason);
}
