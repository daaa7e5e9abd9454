//! The pack as the host sees it: metadata, defaults, settings checks.

use crate::{
    AmountLimit, ApprovalThreshold, CounterpartyAllowlist, CounterpartyBlocklist,
    CurrencyAllowlist, NonPositiveAmount, PACK,
};
use serde_json::{Value, json};
use warden_sdk::testing::{RequestBuilder, settings};
use warden_sdk::{Rule, RuleSettings, SafetyClass, Strictness};

const IDS: [&str; 6] = [
    "amount-limit",
    "approval-threshold",
    "counterparty-blocklist",
    "counterparty-allowlist",
    "currency-allowlist",
    "non-positive-amount",
];

#[test]
fn info_names_the_pack_and_lists_every_rule_once() {
    let info = PACK.info();
    assert_eq!(info.name, "treasury");
    assert_eq!(info.version, "1.0.0");
    let ids: Vec<&str> = info.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, IDS);
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len());
    for r in &info.rules {
        assert!(
            r.id.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-'),
            "{}",
            r.id
        );
        assert!(!r.summary.is_empty(), "{}", r.id);
        assert_eq!(
            r.default_enabled,
            r.id != "counterparty-allowlist",
            "{}",
            r.id
        );
    }
}

/// Default params parse back into the rule's defaults and serialize to the
/// same text; `{}` means the defaults too.
fn round_trips<R: Rule + PartialEq + std::fmt::Debug>() {
    let info = PACK.info();
    let text = &info
        .rules
        .iter()
        .find(|r| r.id == R::ID)
        .unwrap()
        .default_params;
    let parsed: R = serde_json::from_str(text).unwrap();
    assert_eq!(parsed, R::default(), "{}", R::ID);
    assert_eq!(&serde_json::to_string(&parsed).unwrap(), text, "{}", R::ID);
    assert_eq!(
        serde_json::from_str::<R>("{}").unwrap(),
        R::default(),
        "{}",
        R::ID
    );
}

#[test]
fn default_params_round_trip() {
    round_trips::<AmountLimit>();
    round_trips::<ApprovalThreshold>();
    round_trips::<CounterpartyBlocklist>();
    round_trips::<CounterpartyAllowlist>();
    round_trips::<CurrencyAllowlist>();
    round_trips::<NonPositiveAmount>();
    assert_eq!(PACK.check_settings(&PACK.default_settings()), Ok(()));
}

#[test]
fn default_params_are_written_as_people_write_them() {
    let info = PACK.info();
    let params = |id: &str| -> Value {
        let r = info.rules.iter().find(|r| r.id == id).unwrap();
        serde_json::from_str(&r.default_params).unwrap()
    };
    let limit = params("amount-limit");
    assert_eq!(
        limit["max"],
        json!([
            "10000.00 EUR",
            "10000.00 USD",
            "8000.00 GBP",
            "10000.00 CHF"
        ])
    );
    assert_eq!(limit["unknown_currency"], json!("escalate"));
    assert_eq!(
        params("approval-threshold")["threshold"],
        json!(["1000.00 EUR", "1000.00 USD", "800.00 GBP", "1000.00 CHF"])
    );
    assert_eq!(params("approval-threshold")["route"], json!("finance"));
    assert_eq!(
        params("currency-allowlist")["currencies"],
        json!(["EUR", "USD", "GBP", "CHF"])
    );
    assert_eq!(
        params("counterparty-allowlist")["unknown"],
        json!("escalate")
    );
    assert_eq!(
        params("non-positive-amount")["exempt_tools"],
        json!(["*.refund*"])
    );
    assert_eq!(
        params("counterparty-blocklist")["tools"],
        json!([
            "payments.*",
            "treasury.*",
            "*.pay*",
            "*.transfer*",
            "*.refund*"
        ])
    );
}

#[test]
fn strictness_names_real_parameters() {
    for r in PACK.info().rules {
        let params: Value = serde_json::from_str(&r.default_params).unwrap();
        assert!(!r.strictness.is_empty(), "{}", r.id);
        for (name, _) in &r.strictness {
            assert!(
                params.get(name).is_some(),
                "{}: `{name}` is not a parameter",
                r.id
            );
        }
    }
}

#[test]
fn strictness_points_the_right_way() {
    let info = PACK.info();
    let of = |id: &str, p: &str| {
        let r = info.rules.iter().find(|r| r.id == id).unwrap();
        r.strictness.iter().find(|(n, _)| n == p).map(|(_, s)| *s)
    };
    assert_eq!(of("amount-limit", "max"), Some(Strictness::Lower));
    assert_eq!(
        of("approval-threshold", "threshold"),
        Some(Strictness::Lower)
    );
    assert_eq!(
        of("counterparty-blocklist", "blocked"),
        Some(Strictness::Superset)
    );
    assert_eq!(
        of("counterparty-allowlist", "allowed"),
        Some(Strictness::Subset)
    );
    assert_eq!(
        of("currency-allowlist", "currencies"),
        Some(Strictness::Subset)
    );
    assert_eq!(
        of("non-positive-amount", "exempt_tools"),
        Some(Strictness::Subset)
    );
    assert_eq!(
        of("non-positive-amount", "require_amount"),
        Some(Strictness::WhenTrue)
    );
    for id in IDS {
        assert_eq!(of(id, "tools"), Some(Strictness::Superset), "{id}");
        assert_eq!(of(id, "route"), None, "{id}");
    }
}

#[test]
fn unknown_fields_are_refused_for_every_rule() {
    for id in IDS {
        let e = PACK
            .check_settings(&[settings(id, json!({"tool": ["payments.*"]}))])
            .unwrap_err();
        assert!(e.contains(&format!("`{id}`")) && e.contains("tool"), "{e}");
    }
}

#[test]
fn settings_for_an_unknown_rule_are_refused() {
    let e = PACK
        .check_settings(&[settings("amount-limits", json!({}))])
        .unwrap_err();
    assert!(e.contains("unknown rule `amount-limits`"), "{e}");
}

#[test]
fn evaluating_with_bad_params_is_an_error_not_a_pass() {
    let req = RequestBuilder::new("payments.pay_invoice", SafetyClass::Financial)
        .amount(100, "EUR")
        .build();
    let bad = RuleSettings {
        rule: "amount-limit".to_owned(),
        enabled: true,
        params: json!({"max": "lots"}).to_string(),
    };
    let e = PACK.evaluate(&req, &[bad]).unwrap_err();
    assert!(e.contains("`amount-limit`") && e.contains("max"), "{e}");
}

#[test]
fn the_readme_example_settings_are_valid_and_do_what_they_say() {
    let readme = include_str!("../../README.md");
    let section = readme.find("## Example settings").unwrap();
    let start = section + readme[section..].find("```json\n").unwrap() + "```json\n".len();
    let end = start + readme[start..].find("```").unwrap();
    let layers: Vec<Value> = serde_json::from_str(&readme[start..end]).unwrap();
    let example: Vec<RuleSettings> = layers
        .iter()
        .map(|l| RuleSettings {
            rule: l["rule"].as_str().unwrap().to_owned(),
            enabled: l["enabled"].as_bool().unwrap(),
            params: l["params"].to_string(),
        })
        .collect();
    assert_eq!(example.len(), IDS.len());
    assert_eq!(PACK.check_settings(&example), Ok(()));
    let req = RequestBuilder::new("payments.pay_invoice", SafetyClass::Financial)
        .amount(700_000, "JPY")
        .counterparty("ACME GmbH")
        .build();
    let findings = PACK.evaluate(&req, &example).unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert_eq!(findings[0].rule, "approval-threshold");
    assert_eq!(findings[0].route.as_deref(), Some("treasury-desk"));
}
