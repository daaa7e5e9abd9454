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
mod tests;
