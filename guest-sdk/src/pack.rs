//! Rules and packs: the [`Rule`] trait a pack author implements and the
//! [`PackDef`] the [`crate::pack!`] macro builds from a list of rules.

use crate::types::{Finding, Outcome, PackInfo, Request, RuleInfo, RuleSettings, Strictness};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::any::Any;
use std::cell::RefCell;

/// A policy rule. The implementing type *is* the rule's parameters: a serde
/// struct whose `Default` is the rule's default parameters.
///
/// ```
/// use warden_sdk::{Outcome, Request, Rule, SafetyClass, Strictness};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// #[serde(default, deny_unknown_fields)]
/// pub struct NoDeletes {
///     pub allow_tools: Vec<String>,
/// }
///
/// impl Default for NoDeletes {
///     fn default() -> Self {
///         NoDeletes { allow_tools: vec![] }
///     }
/// }
///
/// impl Rule for NoDeletes {
///     const ID: &'static str = "no-deletes";
///     const SUMMARY: &'static str = "Deny destructive tools unless allowed";
///     const STRICTNESS: &'static [(&'static str, Strictness)] =
///         &[("allow_tools", Strictness::Subset)];
///
///     fn check(&self, req: &Request) -> Outcome {
///         if req.action.safety_class == SafetyClass::Destructive
///             && !self.allow_tools.contains(&req.action.tool)
///         {
///             Outcome::deny(format!("`{}` is destructive", req.action.tool))
///         } else {
///             Outcome::Pass
///         }
///     }
/// }
/// ```
pub trait Rule: Serialize + DeserializeOwned + Default + 'static {
    /// Stable id, unique within the pack: lower case letters, digits, dashes.
    const ID: &'static str;
    /// One-line description shown in `warden pack inspect` and explanations.
    const SUMMARY: &'static str;
    /// Whether the rule runs when no override layer says otherwise.
    const DEFAULT_ENABLED: bool = true;
    /// Parameters that a restrict-only override layer may change, and the
    /// direction that makes the rule stricter. Parameters not listed here can
    /// only be changed by layers that are not restrict-only.
    const STRICTNESS: &'static [(&'static str, Strictness)] = &[];

    /// Looks at a request and says whether the rule applies and what it says.
    fn check(&self, req: &Request) -> Outcome;
}

/// A type-erased rule: the [`Rule`]'s constants and monomorphized functions.
#[derive(Clone, Copy)]
pub struct RuleEntry {
    id: &'static str,
    summary: &'static str,
    default_enabled: bool,
    strictness: &'static [(&'static str, Strictness)],
    default_params: fn() -> String,
    parse: fn(&str) -> Result<Box<dyn Any>, String>,
    check: fn(&dyn Any, &Request) -> Outcome,
}

impl RuleEntry {
    /// The entry for rule type `R`.
    pub const fn of<R: Rule>() -> Self {
        RuleEntry {
            id: R::ID,
            summary: R::SUMMARY,
            default_enabled: R::DEFAULT_ENABLED,
            strictness: R::STRICTNESS,
            default_params: default_params::<R>,
            parse: parse_params::<R>,
            check: check_erased::<R>,
        }
    }

    /// The rule's id.
    pub fn id(&self) -> &'static str {
        self.id
    }
}

fn default_params<R: Rule>() -> String {
    serde_json::to_string(&R::default()).unwrap_or_else(|_| "{}".to_owned())
}

fn parse_params<R: Rule>(params: &str) -> Result<Box<dyn Any>, String> {
    let de = &mut serde_json::Deserializer::from_str(params);
    match serde_path_to_error::deserialize::<_, R>(de) {
        Ok(value) => Ok(Box::new(value)),
        Err(err) => {
            let path = err.path().to_string();
            let inner = err.into_inner();
            if path.is_empty() || path == "." {
                Err(format!("rule `{}`: parameters: {inner}", R::ID))
            } else {
                Err(format!("rule `{}`: parameter `{path}`: {inner}", R::ID))
            }
        }
    }
}

fn check_erased<R: Rule>(params: &dyn Any, req: &Request) -> Outcome {
    match params.downcast_ref::<R>() {
        Some(p) => p.check(req),
        None => Outcome::deny(format!("rule `{}`: internal parameter mismatch", R::ID)),
    }
}

/// Parsed parameters of one rule, kept with the text they came from so that a
/// reused instance does not parse the same settings on every call.
struct CachedParams {
    /// The parameter text, or `None` for the rule's defaults.
    text: Option<String>,
    value: Box<dyn Any>,
}

thread_local! {
    static PARAMS_CACHE: RefCell<Vec<Option<CachedParams>>> = const { RefCell::new(Vec::new()) };
}

/// A pack: its name, version, summary and rules. Built by [`crate::pack!`].
pub struct PackDef {
    name: &'static str,
    version: &'static str,
    summary: &'static str,
    rules: &'static [RuleEntry],
}

impl PackDef {
    /// Defines a pack. Prefer the [`crate::pack!`] macro, which fills the
    /// version from `CARGO_PKG_VERSION`.
    pub const fn new(
        name: &'static str,
        version: &'static str,
        summary: &'static str,
        rules: &'static [RuleEntry],
    ) -> Self {
        PackDef {
            name,
            version,
            summary,
            rules,
        }
    }

    /// The pack's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The pack's metadata, derived from its rules.
    pub fn info(&self) -> PackInfo {
        PackInfo {
            name: self.name.to_owned(),
            version: self.version.to_owned(),
            summary: self.summary.to_owned(),
            rules: self
                .rules
                .iter()
                .map(|r| RuleInfo {
                    id: r.id.to_owned(),
                    summary: r.summary.to_owned(),
                    default_enabled: r.default_enabled,
                    default_params: (r.default_params)(),
                    strictness: r
                        .strictness
                        .iter()
                        .map(|(p, s)| ((*p).to_owned(), *s))
                        .collect(),
                })
                .collect(),
        }
    }

    /// The settings every rule gets when no override layer changes anything.
    pub fn default_settings(&self) -> Vec<RuleSettings> {
        self.rules
            .iter()
            .map(|r| RuleSettings {
                rule: r.id.to_owned(),
                enabled: r.default_enabled,
                params: (r.default_params)(),
            })
            .collect()
    }

    /// Checks that settings name known rules and that their parameters fit.
    /// The error names the rule and the parameter.
    pub fn check_settings(&self, settings: &[RuleSettings]) -> Result<(), String> {
        for s in settings {
            let Some(rule) = self.rules.iter().find(|r| r.id == s.rule) else {
                return Err(format!("unknown rule `{}`", s.rule));
            };
            (rule.parse)(&s.params)?;
        }
        Ok(())
    }

    /// Evaluates a request with the given settings. Rules without settings run
    /// with their defaults; disabled rules are skipped.
    pub fn evaluate(
        &self,
        req: &Request,
        settings: &[RuleSettings],
    ) -> Result<Vec<Finding>, String> {
        for s in settings {
            if !self.rules.iter().any(|r| r.id == s.rule) {
                return Err(format!("unknown rule `{}`", s.rule));
            }
        }
        PARAMS_CACHE.with(|cache| {
            let mut cache = cache.borrow_mut();
            if cache.len() != self.rules.len() {
                cache.clear();
                cache.resize_with(self.rules.len(), || None);
            }
            let mut findings = Vec::new();
            for (idx, rule) in self.rules.iter().enumerate() {
                let setting = settings.iter().find(|s| s.rule == rule.id);
                let enabled = setting.map_or(rule.default_enabled, |s| s.enabled);
                if !enabled {
                    continue;
                }
                let text = setting.map(|s| s.params.as_str());
                let slot = &mut cache[idx];
                let fresh = !matches!(slot, Some(c) if c.text.as_deref() == text);
                if fresh {
                    let value = match text {
                        Some(t) => (rule.parse)(t)?,
                        None => (rule.parse)(&(rule.default_params)())?,
                    };
                    *slot = Some(CachedParams {
                        text: text.map(str::to_owned),
                        value,
                    });
                }
                let Some(params) = slot.as_ref() else {
                    continue;
                };
                if let Some(f) = (rule.check)(params.value.as_ref(), req).into_finding(rule.id) {
                    findings.push(f);
                }
            }
            Ok(findings)
        })
    }

    /// Evaluates a request with every rule at its defaults.
    pub fn evaluate_defaults(&self, req: &Request) -> Result<Vec<Finding>, String> {
        self.evaluate(req, &[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{RequestBuilder, disabled, settings};
    use crate::types::{SafetyClass, Verdict};
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Serialize, Deserialize)]
    #[serde(default, deny_unknown_fields)]
    struct MaxLen {
        max: usize,
    }

    impl Default for MaxLen {
        fn default() -> Self {
            MaxLen { max: 3 }
        }
    }

    impl Rule for MaxLen {
        const ID: &'static str = "max-len";
        const SUMMARY: &'static str = "Deny tool names longer than max";
        const STRICTNESS: &'static [(&'static str, Strictness)] = &[("max", Strictness::Lower)];
        fn check(&self, req: &Request) -> Outcome {
            if req.action.tool.len() > self.max {
                Outcome::deny(format!("longer than {}", self.max)).route("ops")
            } else {
                Outcome::Pass
            }
        }
    }

    static PACK: PackDef = PackDef::new("t", "1.2.3", "test", &[RuleEntry::of::<MaxLen>()]);

    fn tool(name: &str) -> Request {
        RequestBuilder::new(name, SafetyClass::Write).build()
    }

    #[test]
    fn info_is_derived_from_the_rules() {
        let info = PACK.info();
        assert_eq!((info.name.as_str(), info.version.as_str()), ("t", "1.2.3"));
        assert_eq!(info.rules[0].id, "max-len");
        assert_eq!(info.rules[0].default_params, r#"{"max":3}"#);
        assert_eq!(
            info.rules[0].strictness,
            vec![("max".to_owned(), Strictness::Lower)]
        );
    }

    #[test]
    fn settings_change_results_even_with_the_params_cache() {
        let f = PACK.evaluate_defaults(&tool("abcd")).unwrap();
        assert_eq!(f[0].verdict, Verdict::Deny);
        assert_eq!(f[0].route.as_deref(), Some("ops"));
        let wide = [settings("max-len", json!({"max": 10}))];
        assert!(PACK.evaluate(&tool("abcd"), &wide).unwrap().is_empty());
        assert_eq!(PACK.evaluate_defaults(&tool("abcd")).unwrap().len(), 1);
        assert!(
            PACK.evaluate(&tool("abcd"), &[disabled("max-len")])
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn bad_settings_name_the_rule_and_field() {
        let bad = [settings("max-len", json!({"max": "three"}))];
        let err = PACK.check_settings(&bad).unwrap_err();
        assert!(
            err.starts_with("rule `max-len`: parameter `max`: invalid type"),
            "{err}"
        );
        let err = PACK.evaluate(&tool("a"), &bad).unwrap_err();
        assert!(err.contains("parameter `max`"), "{err}");
        let unknown = [settings("max-len", json!({"maximum": 1}))];
        assert!(
            PACK.check_settings(&unknown)
                .unwrap_err()
                .contains("unknown field `maximum`")
        );
        let err = PACK
            .check_settings(&[settings("nope", json!({}))])
            .unwrap_err();
        assert_eq!(err, "unknown rule `nope`");
    }
}
