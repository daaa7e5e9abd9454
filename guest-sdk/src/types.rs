//! The plain Rust types a pack works with: requests, findings and outcomes.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cell::OnceCell;

/// How dangerous a tool call is, as classified by the agent runtime.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SafetyClass {
    /// Reads data; changes nothing.
    ReadOnly,
    /// Changes data inside the organisation.
    Write,
    /// Moves money or commits the organisation financially.
    Financial,
    /// Deletes or irreversibly changes data.
    Destructive,
    /// Talks to a system outside the organisation.
    External,
}

impl SafetyClass {
    /// The class's name as written in requests and settings (`read-only`).
    pub fn as_str(self) -> &'static str {
        match self {
            SafetyClass::ReadOnly => "read-only",
            SafetyClass::Write => "write",
            SafetyClass::Financial => "financial",
            SafetyClass::Destructive => "destructive",
            SafetyClass::External => "external",
        }
    }
}

/// An amount of money in the currency's minor units.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Money {
    /// Amount in minor units (cents for EUR); negative for refunds.
    pub minor_units: i64,
    /// ISO 4217 currency code, upper case.
    pub currency: String,
}

/// Who is acting.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Principal {
    /// The agent's identifier.
    pub agent: String,
    /// The human or service the agent acts for.
    pub on_behalf_of: Option<String>,
    /// Roles granted to the agent for this request.
    pub roles: Vec<String>,
}

/// The tool call the agent wants to make.
#[derive(Debug, Clone)]
pub struct Action {
    /// Tool name (`payments.pay_invoice`).
    pub tool: String,
    /// The runtime's classification of the call.
    pub safety_class: SafetyClass,
    /// The amount involved, for financial actions.
    pub amount: Option<Money>,
    /// The other party, if any.
    pub counterparty: Option<String>,
    /// Labels set by the runtime (`pii`, `untrusted-input`).
    pub tags: Vec<String>,
    args_json: String,
    args: OnceCell<Value>,
}

impl Action {
    /// Creates an action with JSON arguments given as text.
    pub fn new(tool: impl Into<String>, safety_class: SafetyClass, args_json: String) -> Self {
        Action {
            tool: tool.into(),
            safety_class,
            amount: None,
            counterparty: None,
            tags: Vec::new(),
            args_json,
            args: OnceCell::new(),
        }
    }

    /// The arguments exactly as the runtime sent them (a JSON document).
    pub fn args_json(&self) -> &str {
        &self.args_json
    }

    /// The arguments parsed as JSON; parsed once, on first use. Arguments that
    /// are not valid JSON read as `null`.
    pub fn args(&self) -> &Value {
        self.args
            .get_or_init(|| serde_json::from_str(&self.args_json).unwrap_or(Value::Null))
    }

    /// Reads one argument by JSON pointer (`/invoice/amount`), see
    /// [`crate::json_path`].
    pub fn arg(&self, pointer: &str) -> Option<&Value> {
        crate::helpers::json_path(self.args(), pointer)
    }

    /// Whether the action carries `tag` (ASCII case-insensitive).
    pub fn has_tag(&self, tag: &str) -> bool {
        self.tags.iter().any(|t| t.eq_ignore_ascii_case(tag))
    }
}

/// One question to the policy: may this principal take this action?
#[derive(Debug, Clone)]
pub struct Request {
    /// Unique id of the request.
    pub id: String,
    /// The tenant the agent belongs to.
    pub tenant: String,
    /// Who is acting.
    pub principal: Principal,
    /// What they want to do.
    pub action: Action,
    /// Extra context as a JSON document.
    pub context: String,
}

/// What a rule says about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The rule permits the action.
    Allow,
    /// The rule forbids the action.
    Deny,
    /// A human must approve the action first.
    Escalate,
}

/// The finding of one rule that applied to a request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// The rule's id.
    pub rule: String,
    /// What the rule says.
    pub verdict: Verdict,
    /// Why, in words an approver can read.
    pub reason: String,
    /// For escalations: who should approve.
    pub route: Option<String>,
}

/// What a rule's check returns: nothing to say, or a verdict with a reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The rule does not apply to this request.
    Pass,
    /// The rule applies and says something.
    Verdict {
        /// What the rule says.
        verdict: Verdict,
        /// Why.
        reason: String,
        /// Who should approve, for escalations.
        route: Option<String>,
    },
}

impl Outcome {
    /// The rule explicitly permits the action.
    pub fn allow(reason: impl Into<String>) -> Self {
        Self::with(Verdict::Allow, reason)
    }

    /// The rule forbids the action.
    pub fn deny(reason: impl Into<String>) -> Self {
        Self::with(Verdict::Deny, reason)
    }

    /// A human must approve the action first.
    pub fn escalate(reason: impl Into<String>) -> Self {
        Self::with(Verdict::Escalate, reason)
    }

    /// Adds a routing hint (who should approve) to an outcome.
    pub fn route(self, to: impl Into<String>) -> Self {
        match self {
            Outcome::Pass => Outcome::Pass,
            Outcome::Verdict {
                verdict, reason, ..
            } => Outcome::Verdict {
                verdict,
                reason,
                route: Some(to.into()),
            },
        }
    }

    /// The verdict, if the rule applied.
    pub fn verdict(&self) -> Option<Verdict> {
        match self {
            Outcome::Pass => None,
            Outcome::Verdict { verdict, .. } => Some(*verdict),
        }
    }

    /// Whether the rule did not apply.
    pub fn is_pass(&self) -> bool {
        matches!(self, Outcome::Pass)
    }

    fn with(verdict: Verdict, reason: impl Into<String>) -> Self {
        Outcome::Verdict {
            verdict,
            reason: reason.into(),
            route: None,
        }
    }

    pub(crate) fn into_finding(self, rule: &str) -> Option<Finding> {
        match self {
            Outcome::Pass => None,
            Outcome::Verdict {
                verdict,
                reason,
                route,
            } => Some(Finding {
                rule: rule.to_owned(),
                verdict,
                reason,
                route,
            }),
        }
    }
}

/// The effective settings of one rule, as the host passes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSettings {
    /// The rule id.
    pub rule: String,
    /// Whether the rule runs.
    pub enabled: bool,
    /// The rule's parameters as a JSON object.
    pub params: String,
}

/// The direction in which a parameter makes a rule stricter; restrict-only
/// override layers may only move a parameter this way.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strictness {
    /// A lower number is stricter.
    Lower,
    /// A higher number is stricter.
    Higher,
    /// More list items are stricter (a blocklist).
    Superset,
    /// Fewer list items are stricter (an allowlist).
    Subset,
    /// `true` is stricter.
    WhenTrue,
    /// `false` is stricter.
    WhenFalse,
}

/// Metadata of one rule, derived from its [`crate::Rule`] implementation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// Rule id.
    pub id: String,
    /// One-line description.
    pub summary: String,
    /// Whether the rule runs by default.
    pub default_enabled: bool,
    /// Default parameters as a JSON object.
    pub default_params: String,
    /// Parameters a restrict-only layer may tighten.
    pub strictness: Vec<(String, Strictness)>,
}

/// Metadata of a pack, derived from its definition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackInfo {
    /// Pack name.
    pub name: String,
    /// Semantic version (the crate's version).
    pub version: String,
    /// One-line description.
    pub summary: String,
    /// The pack's rules.
    pub rules: Vec<RuleInfo>,
}
