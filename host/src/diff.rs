//! Differences between two versions of a pack's metadata.
//!
//! [`diff`] compares the metadata two packs declare (summary, rules, their
//! default settings and strictness) and records which bytes each side was.
//! The REST API returns a [`PackDiff`] as JSON; the CLI prints
//! [`PackDiff::render_text`].
//!
//! ```json
//! {"from": {"name": "treasury", "version": "1.0.0", "digest": "sha256:ab12…", "size": 123456},
//!  "to": {"name": "treasury", "version": "1.1.0", "digest": "sha256:cd34…", "size": 125000},
//!  "rules_added": [{"id": "velocity-limit", "summary": "Limits payments per hour",
//!                   "default_enabled": true}],
//!  "rules_removed": [],
//!  "rules_changed": [{"id": "amount-limit",
//!                     "params": [{"field": "max", "kind": "changed",
//!                                 "from": ["10000.00 EUR"], "to": ["5000.00 EUR"]}]}]}
//! ```

use crate::pack::{Pack, PackInfo, RuleInfo, Strictness};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

/// Which version of a pack one side of a diff is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackSide {
    /// Pack name.
    pub name: String,
    /// Pack version (semver).
    pub version: String,
    /// `sha256:` followed by the hex SHA-256 of the pack's bytes.
    pub digest: String,
    /// Size of the pack's bytes.
    pub size: usize,
}

impl PackSide {
    /// The side for a pack with this metadata, digest and size.
    pub fn new(info: &PackInfo, digest: &str, size: usize) -> PackSide {
        PackSide {
            name: info.name.clone(),
            version: info.version.to_string(),
            digest: digest.to_owned(),
            size,
        }
    }
}

/// A value that differs between the two sides.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Change<T> {
    /// The value in the `from` pack.
    pub from: T,
    /// The value in the `to` pack.
    pub to: T,
}

impl<T: PartialEq> Change<T> {
    /// `Some` when the two values differ.
    fn of(from: T, to: T) -> Option<Change<T>> {
        (from != to).then_some(Change { from, to })
    }
}

/// How one field differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ChangeKind {
    /// Only the `to` pack has the field.
    Added,
    /// Only the `from` pack has the field.
    Removed,
    /// Both have the field, with different values.
    Changed,
}

/// A rule that only one side has.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleSummary {
    /// Rule id.
    pub id: String,
    /// One-line description.
    pub summary: String,
    /// Whether the rule runs by default.
    pub default_enabled: bool,
}

impl RuleSummary {
    fn of(rule: &RuleInfo) -> RuleSummary {
        RuleSummary {
            id: rule.id.clone(),
            summary: rule.summary.clone(),
            default_enabled: rule.default_enabled,
        }
    }
}

/// How a rule present in both packs differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleChange {
    /// Rule id.
    pub id: String,
    /// The one-line description, if it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<Change<String>>,
    /// Whether the rule runs by default, if that changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_enabled: Option<Change<bool>>,
    /// Default parameters that differ, one per top-level field, by field name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<ParamChange>,
    /// Strictness declarations that differ, one per parameter, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub strictness: Vec<StrictnessChange>,
}

impl RuleChange {
    fn is_empty(&self) -> bool {
        self.summary.is_none()
            && self.default_enabled.is_none()
            && self.params.is_empty()
            && self.strictness.is_empty()
    }
}

/// A top-level field of a rule's default parameters that differs. Nested
/// values are compared as whole JSON values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamChange {
    /// Parameter name.
    pub field: String,
    /// Added, removed or changed.
    pub kind: ChangeKind,
    /// The default in the `from` pack; `None` when added.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub from: Option<Value>,
    /// The default in the `to` pack; `None` when removed.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub to: Option<Value>,
}

/// A parameter whose declared strictness differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrictnessChange {
    /// Parameter name.
    pub field: String,
    /// Added, removed or changed.
    pub kind: ChangeKind,
    /// The strictness in the `from` pack; `None` when added.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<Strictness>,
    /// The strictness in the `to` pack; `None` when removed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<Strictness>,
}

/// A field that is present is `Some`, even when it is JSON `null`: a
/// parameter may default to `null`.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Value>, D::Error> {
    Value::deserialize(d).map(Some)
}

/// The difference between two versions of a pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackDiff {
    /// The older side.
    pub from: PackSide,
    /// The newer side.
    pub to: PackSide,
    /// The pack's one-line description, if it changed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary_changed: Option<Change<String>>,
    /// Rules only the `to` pack has, in its order.
    pub rules_added: Vec<RuleSummary>,
    /// Rules only the `from` pack has, in its order.
    pub rules_removed: Vec<RuleSummary>,
    /// Rules both packs have that differ, in the `to` pack's order.
    pub rules_changed: Vec<RuleChange>,
}

/// Compares two versions of a pack: `from` (usually the older) and `to`,
/// each with the digest and size of its bytes.
///
/// Rules are matched by id; a renamed rule is one removed and one added. The
/// order of rules within a pack is not compared.
pub fn diff(
    from: &PackInfo,
    from_digest: &str,
    from_size: usize,
    to: &PackInfo,
    to_digest: &str,
    to_size: usize,
) -> PackDiff {
    let rules_added = to
        .rules
        .iter()
        .filter(|r| from.rule(&r.id).is_none())
        .map(RuleSummary::of)
        .collect();
    let rules_removed = from
        .rules
        .iter()
        .filter(|r| to.rule(&r.id).is_none())
        .map(RuleSummary::of)
        .collect();
    let rules_changed = to
        .rules
        .iter()
        .filter_map(|new| from.rule(&new.id).map(|old| rule_change(old, new)))
        .filter(|c| !c.is_empty())
        .collect();
    PackDiff {
        from: PackSide::new(from, from_digest, from_size),
        to: PackSide::new(to, to_digest, to_size),
        summary_changed: Change::of(from.summary.clone(), to.summary.clone()),
        rules_added,
        rules_removed,
        rules_changed,
    }
}

/// [`diff`] of two loaded packs.
pub fn diff_packs(from: &Pack, to: &Pack) -> PackDiff {
    diff(
        from.info(),
        from.digest(),
        from.size(),
        to.info(),
        to.digest(),
        to.size(),
    )
}

fn rule_change(old: &RuleInfo, new: &RuleInfo) -> RuleChange {
    RuleChange {
        id: new.id.clone(),
        summary: Change::of(old.summary.clone(), new.summary.clone()),
        default_enabled: Change::of(old.default_enabled, new.default_enabled),
        params: param_changes(&old.default_params, &new.default_params),
        strictness: strictness_changes(&old.strictness, &new.strictness),
    }
}

/// Compares two maps field by field, in field order.
fn field_changes<'a, T: PartialEq + 'a>(
    old: impl Fn(&str) -> Option<&'a T>,
    new: impl Fn(&str) -> Option<&'a T>,
    fields: BTreeSet<&str>,
) -> Vec<(String, ChangeKind, Option<&'a T>, Option<&'a T>)> {
    fields
        .into_iter()
        .filter_map(|field| {
            let (a, b) = (old(field), new(field));
            let kind = match (a, b) {
                (None, Some(_)) => ChangeKind::Added,
                (Some(_), None) => ChangeKind::Removed,
                (Some(x), Some(y)) if x != y => ChangeKind::Changed,
                _ => return None,
            };
            Some((field.to_owned(), kind, a, b))
        })
        .collect()
}

fn param_changes(old: &Map<String, Value>, new: &Map<String, Value>) -> Vec<ParamChange> {
    let fields = old.keys().chain(new.keys()).map(String::as_str).collect();
    field_changes(|f| old.get(f), |f| new.get(f), fields)
        .into_iter()
        .map(|(field, kind, from, to)| ParamChange {
            field,
            kind,
            from: from.cloned(),
            to: to.cloned(),
        })
        .collect()
}

fn strictness_changes(
    old: &BTreeMap<String, Strictness>,
    new: &BTreeMap<String, Strictness>,
) -> Vec<StrictnessChange> {
    let fields = old.keys().chain(new.keys()).map(String::as_str).collect();
    field_changes(|f| old.get(f), |f| new.get(f), fields)
        .into_iter()
        .map(|(field, kind, from, to)| StrictnessChange {
            field,
            kind,
            from: from.copied(),
            to: to.copied(),
        })
        .collect()
}

impl PackDiff {
    /// Whether the two sides declare the same metadata: name, version,
    /// summary and every rule's metadata. The digests and sizes may still
    /// differ (a rebuild), and rule order is not compared.
    pub fn is_empty(&self) -> bool {
        self.from.name == self.to.name
            && self.from.version == self.to.version
            && self.summary_changed.is_none()
            && self.rules_unchanged()
    }

    fn rules_unchanged(&self) -> bool {
        self.rules_added.is_empty()
            && self.rules_removed.is_empty()
            && self.rules_changed.is_empty()
    }

    /// The diff as text for people, one change per line, every line ending
    /// in a newline. Values are compact JSON.
    ///
    /// ```text
    /// treasury 1.0.0 -> 1.1.0
    ///   digest  sha256:ab12… -> sha256:cd34…
    ///   size    123456 -> 125000 bytes
    /// + rule velocity-limit: Limits payments per hour (enabled by default)
    /// - rule legacy-check: Old check (disabled by default)
    /// ~ rule amount-limit
    ///     max: ["10000.00 EUR"] -> ["5000.00 EUR"]
    ///     + unknown_currency: "deny"
    ///     default-enabled: true -> false
    ///     strictness of max: lower -> higher
    /// ```
    ///
    /// The last line is `no rule changes` when no rule was added, removed or
    /// changed.
    pub fn render_text(&self) -> String {
        let mut out = String::new();
        let (from, to) = (&self.from, &self.to);
        if from.name == to.name {
            line(
                &mut out,
                0,
                format_args!("{} {} -> {}", to.name, from.version, to.version),
            );
        } else {
            line(
                &mut out,
                0,
                format_args!(
                    "{} {} -> {} {}",
                    from.name, from.version, to.name, to.version
                ),
            );
        }
        if from.digest == to.digest {
            line(&mut out, 2, format_args!("digest  {} (same)", to.digest));
        } else {
            line(
                &mut out,
                2,
                format_args!("digest  {} -> {}", from.digest, to.digest),
            );
        }
        if from.size == to.size {
            line(&mut out, 2, format_args!("size    {} bytes", to.size));
        } else {
            line(
                &mut out,
                2,
                format_args!("size    {} -> {} bytes", from.size, to.size),
            );
        }
        if let Some(c) = &self.summary_changed {
            line(
                &mut out,
                2,
                format_args!("summary: {} -> {}", json_str(&c.from), json_str(&c.to)),
            );
        }
        for r in &self.rules_added {
            line(&mut out, 0, format_args!("+ rule {}", rule_summary(r)));
        }
        for r in &self.rules_removed {
            line(&mut out, 0, format_args!("- rule {}", rule_summary(r)));
        }
        for r in &self.rules_changed {
            render_rule_change(&mut out, r);
        }
        if self.rules_unchanged() {
            line(&mut out, 0, format_args!("no rule changes"));
        }
        out
    }
}

fn render_rule_change(out: &mut String, r: &RuleChange) {
    line(out, 0, format_args!("~ rule {}", r.id));
    if let Some(c) = &r.summary {
        line(
            out,
            4,
            format_args!("summary: {} -> {}", json_str(&c.from), json_str(&c.to)),
        );
    }
    for p in &r.params {
        let show = |v: &Option<Value>| v.as_ref().map_or("none".to_owned(), Value::to_string);
        let (field, from, to) = (&p.field, show(&p.from), show(&p.to));
        match p.kind {
            ChangeKind::Added => line(out, 4, format_args!("+ {field}: {to}")),
            ChangeKind::Removed => line(out, 4, format_args!("- {field}: {from}")),
            ChangeKind::Changed => line(out, 4, format_args!("{field}: {from} -> {to}")),
        }
    }
    if let Some(c) = &r.default_enabled {
        line(
            out,
            4,
            format_args!("default-enabled: {} -> {}", c.from, c.to),
        );
    }
    for s in &r.strictness {
        let show = |v: Option<Strictness>| v.map_or("none", strictness_name);
        let (field, from, to) = (&s.field, show(s.from), show(s.to));
        match s.kind {
            ChangeKind::Added => line(out, 4, format_args!("+ strictness of {field}: {to}")),
            ChangeKind::Removed => line(out, 4, format_args!("- strictness of {field}: {from}")),
            ChangeKind::Changed => line(
                out,
                4,
                format_args!("strictness of {field}: {from} -> {to}"),
            ),
        }
    }
}

fn line(out: &mut String, indent: usize, text: std::fmt::Arguments<'_>) {
    // Writing to a `String` cannot fail.
    let _ = writeln!(out, "{:indent$}{text}", "");
}

fn rule_summary(r: &RuleSummary) -> String {
    let enabled = if r.default_enabled {
        "enabled"
    } else {
        "disabled"
    };
    format!("{}: {} ({enabled} by default)", r.id, r.summary)
}

/// A string as a JSON string literal (quoted and escaped).
fn json_str(s: &str) -> String {
    Value::from(s).to_string()
}

/// The name `Strictness` has in JSON.
fn strictness_name(s: Strictness) -> &'static str {
    match s {
        Strictness::Lower => "lower",
        Strictness::Higher => "higher",
        Strictness::Superset => "superset",
        Strictness::Subset => "subset",
        Strictness::WhenTrue => "when-true",
        Strictness::WhenFalse => "when-false",
    }
}

#[cfg(test)]
mod tests {
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
}
