//! Override layers: how a rule's settings are resolved from the pack's
//! defaults through the fleet, tenant and agent layers, and how restrict-only
//! layers are held to tightening.

use crate::error::ComposeError;
use crate::pack::{PackInfo, RuleInfo, Strictness};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// The name explanations use for settings that no layer changed.
pub const DEFAULTS: &str = "defaults";

/// The name of the layer the control plane's fleet admins write: it applies
/// to every tenant, before the tenant's own layers.
pub const FLEET_LAYER: &str = "fleet";

/// One override layer. Layers are applied in order, least specific first.
///
/// ```json
/// {"name": "tenant:acme", "restrict_only": true,
///  "packs": {"treasury": {"amount-limit": {"params": {"max": ["5000.00 EUR"]}},
///                         "approval-threshold": {"verdict": "deny"}}}}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Layer {
    /// Name shown in explanations (`fleet`, `tenant:acme`, `agent:billing-bot`).
    pub name: String,
    /// When set, the layer may only make outcomes stricter.
    #[serde(default)]
    pub restrict_only: bool,
    /// Overrides per pack name, then per rule id.
    #[serde(default, deserialize_with = "rule_overrides")]
    pub packs: BTreeMap<String, BTreeMap<String, RuleOverride>>,
}

/// [`Layer::packs`], each override read only from a JSON object.
fn rule_overrides<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<BTreeMap<String, BTreeMap<String, RuleOverride>>, D::Error> {
    #[derive(Deserialize)]
    struct Rule(#[serde(deserialize_with = "crate::json_object::object")] RuleOverride);
    let raw = BTreeMap::<String, BTreeMap<String, Rule>>::deserialize(d)?;
    Ok(raw
        .into_iter()
        .map(|(p, rules)| (p, rules.into_iter().map(|(r, o)| (r, o.0)).collect()))
        .collect())
}

/// What a layer changes about one rule.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleOverride {
    /// Turn the rule on or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Parameters to set; merged key by key over the lower layers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<Value>,
    /// Replace the verdict of the rule's deny and escalate findings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
}

/// A rule's settings after all layers, with where each one came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EffectiveRule {
    /// The rule id.
    pub rule: String,
    /// Whether the rule runs.
    pub enabled: bool,
    /// The layer that decided `enabled` (`defaults` if none).
    pub enabled_by: String,
    /// The merged parameters.
    pub params: Map<String, Value>,
    /// For each parameter, the layer that set it (`defaults` if none).
    pub param_sources: BTreeMap<String, String>,
    /// The verdict override, if any layer set one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict: Option<Verdict>,
    /// The layer that set the verdict override.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verdict_by: Option<String>,
}

impl EffectiveRule {
    fn defaults(rule: &RuleInfo) -> Self {
        EffectiveRule {
            rule: rule.id.clone(),
            enabled: rule.default_enabled,
            enabled_by: DEFAULTS.to_owned(),
            params: rule.default_params.clone(),
            param_sources: rule
                .default_params
                .keys()
                .map(|k| (k.clone(), DEFAULTS.to_owned()))
                .collect(),
            verdict: None,
            verdict_by: None,
        }
    }
}

/// Resolves every rule of `pack` through `layers`. Fails on unknown rules,
/// non-object params, and restrict-only layers that loosen a rule.
pub fn resolve(pack: &PackInfo, layers: &[Layer]) -> Result<Vec<EffectiveRule>, ComposeError> {
    let mut rules: Vec<EffectiveRule> = pack.rules.iter().map(EffectiveRule::defaults).collect();
    for layer in layers {
        let Some(overrides) = layer.packs.get(&pack.name) else {
            continue;
        };
        for (rule_id, ov) in overrides {
            let (Some(info), Some(eff)) = (
                pack.rule(rule_id),
                rules.iter_mut().find(|r| r.rule == *rule_id),
            ) else {
                return Err(ComposeError::UnknownRule {
                    layer: layer.name.clone(),
                    pack: pack.name.clone(),
                    rule: rule_id.clone(),
                });
            };
            apply(layer, &pack.name, info, eff, ov)?;
        }
    }
    Ok(rules)
}

fn apply(
    layer: &Layer,
    pack: &str,
    info: &RuleInfo,
    eff: &mut EffectiveRule,
    ov: &RuleOverride,
) -> Result<(), ComposeError> {
    let loosens = |why: String| ComposeError::Loosens {
        layer: layer.name.clone(),
        pack: pack.to_owned(),
        rule: info.id.clone(),
        why,
    };
    if let Some(enabled) = ov.enabled {
        if layer.restrict_only && eff.enabled && !enabled {
            return Err(loosens("it disables the rule".to_owned()));
        }
        eff.enabled = enabled;
        eff.enabled_by = layer.name.clone();
    }
    if let Some(verdict) = ov.verdict {
        if layer.restrict_only && verdict != Verdict::Deny && eff.verdict != Some(verdict) {
            return Err(loosens(format!(
                "it changes the verdict to `{}`; a restrict-only layer may only change it to `deny`",
                verdict.as_str()
            )));
        }
        eff.verdict = Some(verdict);
        eff.verdict_by = Some(layer.name.clone());
    }
    if let Some(params) = &ov.params {
        let Value::Object(params) = params else {
            return Err(ComposeError::ParamsNotObject {
                layer: layer.name.clone(),
                pack: pack.to_owned(),
                rule: info.id.clone(),
            });
        };
        for (key, new) in params {
            if layer.restrict_only {
                let old = eff.params.get(key).unwrap_or(&Value::Null);
                match info.strictness.get(key) {
                    None => {
                        return Err(loosens(format!(
                            "parameter `{key}` declares no strictness, so a restrict-only layer cannot change it"
                        )));
                    }
                    Some(s) => {
                        if let Err(why) = tightens(*s, old, new) {
                            return Err(loosens(format!("parameter `{key}`: {why}")));
                        }
                    }
                }
            }
            eff.params.insert(key.clone(), new.clone());
            eff.param_sources.insert(key.clone(), layer.name.clone());
        }
    }
    Ok(())
}

/// Checks that moving a parameter from `old` to `new` does not loosen the rule
/// under strictness `s`. Numbers, amounts written as text (`"100.00 EUR"`),
/// lists of either, booleans and lists of strings are understood.
pub fn tightens(s: Strictness, old: &Value, new: &Value) -> Result<(), String> {
    match s {
        Strictness::WhenTrue | Strictness::WhenFalse => {
            let strict = s == Strictness::WhenTrue;
            match (old.as_bool(), new.as_bool()) {
                (_, None) => Err(format!("`{new}` is not a boolean")),
                (Some(o), Some(n)) if o == strict && n != strict => {
                    Err(format!("changing `{o}` to `{n}` loosens it"))
                }
                _ => Ok(()),
            }
        }
        Strictness::Superset | Strictness::Subset => {
            let (Some(o), Some(n)) = (old.as_array(), new.as_array()) else {
                return Err(format!("`{new}` is not a list"));
            };
            if s == Strictness::Superset {
                match o.iter().find(|x| !n.contains(x)) {
                    Some(missing) => Err(format!("it removes {missing}")),
                    None => Ok(()),
                }
            } else {
                match n.iter().find(|x| !o.contains(x)) {
                    Some(extra) => Err(format!("it adds {extra}")),
                    None => Ok(()),
                }
            }
        }
        Strictness::Lower | Strictness::Higher => {
            let lower = s == Strictness::Lower;
            let (olds, news) = (scalars(old)?, scalars(new)?);
            for (unit, o) in &olds {
                let Some((_, n)) = news.iter().find(|(u, _)| u == unit) else {
                    return Err(format!("it drops the value for `{unit}`"));
                };
                if (lower && n > o) || (!lower && n < o) {
                    return Err(format!(
                        "{} is {} than {}",
                        show(*n, unit),
                        if lower { "higher" } else { "lower" },
                        show(*o, unit)
                    ));
                }
            }
            if let Some((unit, _)) = news.iter().find(|(u, _)| !olds.iter().any(|(o, _)| o == u)) {
                return Err(format!("it adds a value for `{unit}`"));
            }
            Ok(())
        }
    }
}

fn show(v: f64, unit: &str) -> String {
    if unit.is_empty() {
        format!("{v}")
    } else {
        format!("{v} {unit}")
    }
}

/// A number or an amount (`"12.50 EUR"`), or a list of them, as (unit, value)
/// pairs; plain numbers have the unit `""`.
fn scalars(v: &Value) -> Result<Vec<(String, f64)>, String> {
    let one = |v: &Value| -> Result<(String, f64), String> {
        match v {
            Value::Number(n) => n
                .as_f64()
                .map(|f| (String::new(), f))
                .ok_or_else(|| format!("`{n}` is not a number")),
            Value::String(s) => {
                let mut parts = s.split_whitespace();
                match (
                    parts.next().and_then(|n| n.parse::<f64>().ok()),
                    parts.next(),
                    parts.next(),
                ) {
                    (Some(n), Some(unit), None) => Ok((unit.to_ascii_uppercase(), n)),
                    _ => Err(format!(
                        "`{s}` is not a number or an amount like `100.00 EUR`"
                    )),
                }
            }
            other => Err(format!("`{other}` is not a number")),
        }
    };
    match v {
        Value::Array(items) => items.iter().map(one).collect(),
        other => Ok(vec![one(other)?]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn lower_is_stricter_for_numbers_and_amounts() {
        assert!(tightens(Strictness::Lower, &json!(10), &json!(5)).is_ok());
        assert!(tightens(Strictness::Lower, &json!(10), &json!(11)).is_err());
        let old = json!(["100.00 EUR", "90.00 GBP"]);
        assert!(tightens(Strictness::Lower, &old, &json!(["50.00 EUR", "90.00 GBP"])).is_ok());
        let err = tightens(Strictness::Lower, &old, &json!(["150.00 EUR", "90.00 GBP"]));
        assert_eq!(err, Err("150 EUR is higher than 100 EUR".to_owned()));
        assert!(tightens(Strictness::Lower, &old, &json!(["50.00 EUR"])).is_err());
        assert!(tightens(Strictness::Lower, &old, &json!(["1 EUR", "1 GBP", "1 USD"])).is_err());
        assert!(tightens(Strictness::Higher, &json!(3), &json!(2)).is_err());
    }

    #[test]
    fn lists_and_booleans() {
        let old = json!(["a", "b"]);
        assert!(tightens(Strictness::Superset, &old, &json!(["a", "b", "c"])).is_ok());
        assert!(tightens(Strictness::Superset, &old, &json!(["a"])).is_err());
        assert!(tightens(Strictness::Subset, &old, &json!(["a"])).is_ok());
        assert!(tightens(Strictness::Subset, &old, &json!(["a", "z"])).is_err());
        assert!(tightens(Strictness::WhenTrue, &json!(true), &json!(false)).is_err());
        assert!(tightens(Strictness::WhenTrue, &json!(false), &json!(true)).is_ok());
        assert!(tightens(Strictness::WhenFalse, &json!(false), &json!(true)).is_err());
        assert!(tightens(Strictness::WhenTrue, &json!(true), &json!("yes")).is_err());
    }
}
