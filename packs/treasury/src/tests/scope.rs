//! Which requests count as payments: shared by every rule.

use super::{expect, verdict};
use crate::PACK;
use serde_json::json;
use warden_sdk::testing::{RequestBuilder, settings};
use warden_sdk::{SafetyClass, Verdict};

/// 20000 EUR to nobody: every default-enabled rule but the blocklist and
/// the currency list has something to say if this is a payment.
fn big(tool: &str, class: SafetyClass) -> warden_sdk::Request {
    RequestBuilder::new(tool, class)
        .amount(2_000_000, "EUR")
        .build()
}

#[test]
fn tools_matching_the_default_patterns_are_payments() {
    for tool in [
        "payments.create",
        "treasury.sweep_accounts",
        "billing.pay_invoice",
        "bank.transfer_funds",
        "shop.refund_order",
    ] {
        for class in [SafetyClass::Write, SafetyClass::External] {
            assert_eq!(
                verdict("amount-limit", &big(tool, class), &[]),
                Some(Verdict::Deny),
                "{tool} {class:?}"
            );
        }
    }
}

#[test]
fn any_financial_action_is_a_payment_whatever_its_tool() {
    let f = expect(
        "amount-limit",
        Verdict::Deny,
        &big("erp.settle", SafetyClass::Financial),
        &[],
    );
    assert_eq!(f.reason, "20000.00 EUR exceeds the limit of 10000.00 EUR");
}

#[test]
fn other_tools_are_not_payments() {
    let req = big("crm.update_contact", SafetyClass::Write);
    assert_eq!(PACK.evaluate_defaults(&req).unwrap(), vec![]);
}

#[test]
fn read_only_calls_of_payment_tools_are_not_payments() {
    let req = big("treasury.quote_fx", SafetyClass::ReadOnly);
    assert_eq!(PACK.evaluate_defaults(&req).unwrap(), vec![]);
}

#[test]
fn each_rule_takes_its_tools_from_settings() {
    let req = big("erp.post_journal", SafetyClass::Write);
    assert_eq!(verdict("amount-limit", &req, &[]), None);
    let s = [settings("amount-limit", json!({"tools": ["erp.*"]}))];
    assert_eq!(verdict("amount-limit", &req, &s), Some(Verdict::Deny));
    // Only that rule's scope changed.
    assert_eq!(verdict("approval-threshold", &req, &s), None);
    // Narrowing the tools leaves financial actions in scope.
    let s = [settings("amount-limit", json!({"tools": []}))];
    let fin = big("payments.create", SafetyClass::Financial);
    assert_eq!(verdict("amount-limit", &fin, &s), Some(Verdict::Deny));
    let write = big("payments.create", SafetyClass::Write);
    assert_eq!(verdict("amount-limit", &write, &s), None);
}

#[test]
fn an_ordinary_payment_passes_every_default_rule() {
    let req = RequestBuilder::new("payments.pay_invoice", SafetyClass::Financial)
        .amount(50_000, "EUR")
        .counterparty("ACME GmbH")
        .build();
    assert_eq!(PACK.evaluate_defaults(&req).unwrap(), vec![]);
}
