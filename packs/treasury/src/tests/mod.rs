//! Native tests of every rule, run through `PACK` the way the host runs them:
//! settings as JSON text, rules selected by id.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod amount_limit;
mod approval_threshold;
mod counterparty_allowlist;
mod counterparty_blocklist;
mod currency_allowlist;
mod non_positive_amount;
mod pack;
mod scope;

use crate::PACK;
use warden_sdk::testing::RequestBuilder;
use warden_sdk::{Finding, Request, RuleSettings, SafetyClass, Verdict};

/// A financial `payments.pay_invoice` call of `minor` units of `currency` to
/// `ACME GmbH`.
fn pay(minor: i64, currency: &str) -> RequestBuilder {
    RequestBuilder::new("payments.pay_invoice", SafetyClass::Financial)
        .amount(minor, currency)
        .counterparty("ACME GmbH")
}

/// The finding of `rule` for `req` under `settings` (rules without settings
/// run at their defaults).
fn finding(rule: &str, req: &Request, settings: &[RuleSettings]) -> Option<Finding> {
    PACK.evaluate(req, settings)
        .unwrap()
        .into_iter()
        .find(|f| f.rule == rule)
}

/// The verdict of `rule`, if it applied.
fn verdict(rule: &str, req: &Request, settings: &[RuleSettings]) -> Option<Verdict> {
    finding(rule, req, settings).map(|f| f.verdict)
}

/// The finding of `rule`, which must have applied with `expected`.
fn expect(rule: &str, expected: Verdict, req: &Request, settings: &[RuleSettings]) -> Finding {
    let f = finding(rule, req, settings)
        .unwrap_or_else(|| panic!("`{rule}` did not apply to {:?}", req.action));
    assert_eq!(f.verdict, expected, "{f:?}");
    f
}

/// The error `check_settings` gives for `params` of `rule`; it must fail.
fn settings_error(rule: &str, params: serde_json::Value) -> String {
    PACK.check_settings(&[warden_sdk::testing::settings(rule, params)])
        .unwrap_err()
}
