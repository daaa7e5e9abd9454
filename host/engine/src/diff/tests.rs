//! Unit tests of the parent module.

use super::*;
use serde_json::json;

const D1: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D2: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";

fn rule(
    id: &str,
    summary: &str,
    enabled: bool,
    params: Value,
    strictness: &[(&str, Strictness)],
) -> RuleInfo {
    let Value::Object(default_params) = params else {
        panic!("params must be a JSON object");
    };
    RuleInfo {
        id: id.to_owned(),
        summary: summary.to_owned(),
        default_enabled: enabled,
        default_params,
        strictness: strictness
            .iter()
            .map(|(f, s)| ((*f).to_owned(), *s))
            .collect(),
    }
}

fn pack(version: &str, summary: &str, rules: Vec<RuleInfo>) -> PackInfo {
    PackInfo {
        name: "treasury".to_owned(),
        version: semver::Version::parse(version).unwrap(),
        summary: summary.to_owned(),
        rules,
    }
}

fn amount_limit() -> RuleInfo {
    rule(
        "amount-limit",
        "Denies payments above a limit",
        true,
        json!({"max": ["10000.00 EUR"], "route": "finance", "nested": {"a": [1, 2]}}),
        &[("max", Strictness::Lower)],
    )
}

fn approval() -> RuleInfo {
    rule(
        "approval-threshold",
        "Escalates large payments",
        true,
        json!({"threshold": ["1000.00 EUR"]}),
        &[("threshold", Strictness::Lower)],
    )
}

fn legacy() -> RuleInfo {
    rule("legacy-check", "Old check", false, json!({}), &[])
}

fn old() -> PackInfo {
    pack(
        "1.0.0",
        "Payments",
        vec![amount_limit(), approval(), legacy()],
    )
}

fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}

#[test]
fn identical_infos_give_an_empty_diff() {
    let d = diff(&old(), D1, 100, &old(), D1, 100);
    assert!(d.is_empty());
    assert_eq!(d.summary_changed, None);
    assert!(d.rules_added.is_empty());
    assert!(d.rules_removed.is_empty());
    assert!(d.rules_changed.is_empty());
    assert_eq!(
        d.from,
        PackSide {
            name: "treasury".to_owned(),
            version: "1.0.0".to_owned(),
            digest: D1.to_owned(),
            size: 100,
        }
    );
    assert_eq!(
        lines(&d.render_text()),
        [
            "treasury 1.0.0 -> 1.0.0",
            &format!("  digest  {D1} (same)"),
            "  size    100 bytes",
            "no rule changes",
        ]
    );
    assert!(d.render_text().ends_with("no rule changes\n"));
}

#[test]
fn a_rebuild_is_empty_though_digest_and_size_differ() {
    let d = diff(&old(), D1, 100, &old(), D2, 120);
    assert!(d.is_empty());
    let text = d.render_text();
    assert!(
        text.contains(&format!("\n  digest  {D1} -> {D2}\n")),
        "{text}"
    );
    assert!(text.contains("\n  size    100 -> 120 bytes\n"), "{text}");
    assert!(text.ends_with("no rule changes\n"), "{text}");
}

#[test]
fn version_and_summary_changes_are_not_rule_changes() {
    let new = pack("1.1.0", "Payments \"v2\"", old().rules);
    let d = diff(&old(), D1, 100, &new, D2, 100);
    assert!(!d.is_empty());
    assert_eq!(
        d.summary_changed,
        Some(Change {
            from: "Payments".to_owned(),
            to: "Payments \"v2\"".to_owned()
        })
    );
    let text = d.render_text();
    assert!(text.starts_with("treasury 1.0.0 -> 1.1.0\n"), "{text}");
    assert!(
        text.contains("\n  summary: \"Payments\" -> \"Payments \\\"v2\\\"\"\n"),
        "{text}"
    );
    assert!(text.ends_with("no rule changes\n"), "{text}");

    let only_version = diff(
        &old(),
        D1,
        100,
        &pack("1.0.1", "Payments", old().rules),
        D1,
        100,
    );
    assert!(!only_version.is_empty());
    assert_eq!(only_version.summary_changed, None);
}

#[test]
fn added_and_removed_rules_keep_pack_order() {
    let v1 = rule(
        "velocity-limit",
        "Limits payments per hour",
        true,
        json!({}),
        &[],
    );
    let v2 = rule("vendor-check", "Checks vendors", false, json!({}), &[]);
    let zero = rule("zero-check", "Zero", true, json!({}), &[]);
    let from = pack(
        "1.0.0",
        "Payments",
        vec![zero.clone(), amount_limit(), legacy(), approval()],
    );
    let to = pack(
        "2.0.0",
        "Payments",
        vec![v2.clone(), amount_limit(), v1.clone()],
    );
    let d = diff(&from, D1, 1, &to, D2, 2);
    let ids = |rs: &[RuleSummary]| rs.iter().map(|r| r.id.clone()).collect::<Vec<_>>();
    assert_eq!(ids(&d.rules_added), ["vendor-check", "velocity-limit"]);
    assert_eq!(
        ids(&d.rules_removed),
        ["zero-check", "legacy-check", "approval-threshold"]
    );
    assert_eq!(
        d.rules_added[1],
        RuleSummary {
            id: "velocity-limit".to_owned(),
            summary: "Limits payments per hour".to_owned(),
            default_enabled: true,
        }
    );
    assert!(d.rules_changed.is_empty());
    assert!(!d.is_empty());
    let text = d.render_text();
    let got = lines(&text);
    assert_eq!(
        got[3..],
        [
            "+ rule vendor-check: Checks vendors (disabled by default)",
            "+ rule velocity-limit: Limits payments per hour (enabled by default)",
            "- rule zero-check: Zero (enabled by default)",
            "- rule legacy-check: Old check (disabled by default)",
            "- rule approval-threshold: Escalates large payments (enabled by default)",
        ]
    );
    assert!(!text.contains("no rule changes"));
}

#[test]
fn changed_rules_list_each_difference() {
    let mut amount = amount_limit();
    amount.summary = "Denies payments above a per-currency limit".to_owned();
    amount.default_enabled = false;
    amount.default_params = json!({
        "max": ["5000.00 EUR"],
        "nested": {"a": [1, 2]},
        "unknown_currency": "deny",
    })
    .as_object()
    .unwrap()
    .clone();
    amount.strictness = [
        ("max".to_owned(), Strictness::Higher),
        ("unknown_currency".to_owned(), Strictness::WhenTrue),
    ]
    .into();
    let new = pack("1.1.0", "Payments", vec![approval(), amount, legacy()]);
    let d = diff(&old(), D1, 100, &new, D2, 100);
    assert!(d.rules_added.is_empty() && d.rules_removed.is_empty());
    assert_eq!(d.rules_changed.len(), 1, "unchanged rules are left out");
    let c = &d.rules_changed[0];
    assert_eq!(c.id, "amount-limit");
    assert_eq!(
        c.summary,
        Some(Change {
            from: "Denies payments above a limit".to_owned(),
            to: "Denies payments above a per-currency limit".to_owned(),
        })
    );
    assert_eq!(
        c.default_enabled,
        Some(Change {
            from: true,
            to: false
        })
    );
    assert_eq!(
        c.params,
        [
            ParamChange {
                field: "max".to_owned(),
                kind: ChangeKind::Changed,
                from: Some(json!(["10000.00 EUR"])),
                to: Some(json!(["5000.00 EUR"])),
            },
            ParamChange {
                field: "route".to_owned(),
                kind: ChangeKind::Removed,
                from: Some(json!("finance")),
                to: None,
            },
            ParamChange {
                field: "unknown_currency".to_owned(),
                kind: ChangeKind::Added,
                from: None,
                to: Some(json!("deny")),
            },
        ],
        "sorted by field; the equal nested object is left out"
    );
    assert_eq!(
        c.strictness,
        [
            StrictnessChange {
                field: "max".to_owned(),
                kind: ChangeKind::Changed,
                from: Some(Strictness::Lower),
                to: Some(Strictness::Higher),
            },
            StrictnessChange {
                field: "unknown_currency".to_owned(),
                kind: ChangeKind::Added,
                from: None,
                to: Some(Strictness::WhenTrue),
            },
        ]
    );
    assert!(!d.is_empty());

    let text = d.render_text();
    assert_eq!(
        lines(&text)[3..],
        [
            "~ rule amount-limit",
            "    summary: \"Denies payments above a limit\" -> \"Denies payments above a per-currency limit\"",
            "    max: [\"10000.00 EUR\"] -> [\"5000.00 EUR\"]",
            "    - route: \"finance\"",
            "    + unknown_currency: \"deny\"",
            "    default-enabled: true -> false",
            "    strictness of max: lower -> higher",
            "    + strictness of unknown_currency: when-true",
        ]
    );
}

#[test]
fn nested_params_compare_as_whole_values_and_removed_strictness_shows() {
    let mut amount = amount_limit();
    amount.default_params["nested"] = json!({"a": [1, 2, 3]});
    amount.strictness.clear();
    let new = pack(
        "1.0.0",
        "Payments",
        vec![amount_limit(), approval(), legacy()],
    );
    let newer = pack("1.0.1", "Payments", vec![amount, approval(), legacy()]);
    let d = diff(&new, D1, 1, &newer, D2, 1);
    let c = &d.rules_changed[0];
    assert_eq!(c.summary, None);
    assert_eq!(c.default_enabled, None);
    assert_eq!(
        c.params,
        [ParamChange {
            field: "nested".to_owned(),
            kind: ChangeKind::Changed,
            from: Some(json!({"a": [1, 2]})),
            to: Some(json!({"a": [1, 2, 3]})),
        }]
    );
    assert_eq!(
        c.strictness,
        [StrictnessChange {
            field: "max".to_owned(),
            kind: ChangeKind::Removed,
            from: Some(Strictness::Lower),
            to: None,
        }]
    );
    let text = d.render_text();
    assert!(
        text.contains("\n    nested: {\"a\":[1,2]} -> {\"a\":[1,2,3]}\n"),
        "{text}"
    );
    assert!(
        text.contains("\n    - strictness of max: lower\n"),
        "{text}"
    );
    assert!(!text.contains("summary:"), "{text}");
    assert!(!text.contains("default-enabled"), "{text}");
}

#[test]
fn changed_rules_follow_the_to_pack_order() {
    let mut a = amount_limit();
    a.default_enabled = false;
    let mut b = approval();
    b.default_enabled = false;
    let mut l = legacy();
    l.default_enabled = true;
    let new = pack("1.1.0", "Payments", vec![l, b, a]);
    let d = diff(&old(), D1, 1, &new, D2, 1);
    let ids: Vec<&str> = d.rules_changed.iter().map(|c| c.id.as_str()).collect();
    assert_eq!(ids, ["legacy-check", "approval-threshold", "amount-limit"]);
    let text = d.render_text();
    let headers: Vec<&str> = text.lines().filter(|l| l.starts_with("~ ")).collect();
    assert_eq!(
        headers,
        [
            "~ rule legacy-check",
            "~ rule approval-threshold",
            "~ rule amount-limit"
        ]
    );
}

#[test]
fn reordering_rules_alone_is_no_change() {
    let new = pack(
        "1.0.0",
        "Payments",
        vec![legacy(), approval(), amount_limit()],
    );
    assert!(diff(&old(), D1, 1, &new, D1, 1).is_empty());
}

#[test]
fn json_is_lean_but_keeps_rule_lists() {
    let d = diff(&old(), D1, 100, &old(), D2, 120);
    assert_eq!(
        serde_json::to_value(&d).unwrap(),
        json!({
            "from": {"name": "treasury", "version": "1.0.0", "digest": D1, "size": 100},
            "to": {"name": "treasury", "version": "1.0.0", "digest": D2, "size": 120},
            "rules_added": [],
            "rules_removed": [],
            "rules_changed": [],
        })
    );

    let mut amount = amount_limit();
    amount.default_params.remove("route");
    amount.default_params.insert("cap".to_owned(), Value::Null);
    let new = pack("1.1.0", "Payments v2", vec![amount, approval(), legacy()]);
    let d = diff(&old(), D1, 100, &new, D2, 120);
    let v = serde_json::to_value(&d).unwrap();
    assert_eq!(
        v["summary_changed"],
        json!({"from": "Payments", "to": "Payments v2"})
    );
    assert_eq!(
        v["rules_changed"],
        json!([{"id": "amount-limit", "params": [
            {"field": "cap", "kind": "added", "to": null},
            {"field": "route", "kind": "removed", "from": "finance"},
        ]}])
    );
    let back: PackDiff = serde_json::from_value(v).unwrap();
    assert_eq!(back, d, "round trip keeps a `null` default as `Some(Null)`");
}

#[test]
fn strictness_names_match_json() {
    for s in [
        Strictness::Lower,
        Strictness::Higher,
        Strictness::Superset,
        Strictness::Subset,
        Strictness::WhenTrue,
        Strictness::WhenFalse,
    ] {
        assert_eq!(serde_json::to_value(s).unwrap(), json!(strictness_name(s)));
    }
}

#[test]
fn different_names_show_both() {
    let mut other = old();
    other.name = "treasury-eu".to_owned();
    let d = diff(&old(), D1, 1, &other, D2, 1);
    assert!(!d.is_empty());
    assert!(
        d.render_text()
            .starts_with("treasury 1.0.0 -> treasury-eu 1.0.0\n")
    );
}
