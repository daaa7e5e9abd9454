//! A tenant's approval policy: ordered routing rules that pick an
//! escalation policy for each escalated decision, and the escalation
//! policies themselves (chains of steps with approvers, a quorum, an SLA and
//! what its deadline does). One versioned document per tenant, checked
//! field by field before it is stored; errors name the field by its path.

use crate::approvals::glob::Glob;
use crate::tenants::settings_error::SettingsError;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use warden_host::SafetyClass;

/// Most routing rules in one policy document.
pub const MAX_ROUTES: usize = 1000;
/// Most escalation policies in one document.
pub const MAX_POLICIES: usize = 100;
/// Most steps in one escalation policy.
pub const MAX_STEPS: usize = 10;
/// Most approvers named by one step.
pub const MAX_APPROVERS: usize = 100;
/// Most webhooks of one escalation policy.
pub const MAX_WEBHOOKS: usize = 5;
/// Longest webhook URL, in bytes.
pub const MAX_URL: usize = 2048;
/// Most patterns in one match field.
pub const MAX_PATTERNS: usize = 100;
/// Longest name, pattern or approver id, in bytes.
pub const MAX_NAME: usize = 256;
/// Shortest and longest SLA of a step.
pub const SLA_RANGE: (std::time::Duration, std::time::Duration) = (
    std::time::Duration::from_secs(1),
    std::time::Duration::from_secs(30 * 24 * 3600),
);

/// A tenant's approval policy with its version, as its runtime holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct TenantApprovals {
    /// The document's version.
    pub version: i64,
    /// The document.
    pub policy: ApprovalPolicy,
}

impl TenantApprovals {
    /// The tenant's stored policy (`version`, `doc`), parsed.
    pub fn stored(version: i64, doc: &str) -> Result<TenantApprovals, warden_store::StoreError> {
        let policy =
            serde_json::from_str(doc).map_err(|e| warden_store::corrupt("approval policy", e))?;
        Ok(TenantApprovals { version, policy })
    }
}

/// A tenant's approval policy document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApprovalPolicy {
    /// Ordered routing rules: the first whose match holds picks the
    /// escalation policy.
    #[serde(default)]
    pub routes: Vec<RouteRule>,
    /// The escalation policy of an escalation no rule matches.
    pub default_policy: String,
    /// Escalation policies by name.
    pub policies: BTreeMap<String, EscalationPolicy>,
    /// The safety classes whose requests a step's deadline may allow
    /// (`on_timeout: allow`); for any other class such a deadline denies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<crate::api::schemas::DecisionSafetyClass>)]
    pub allow_on_timeout: Vec<SafetyClass>,
}

/// One routing rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RouteRule {
    /// The rule's name (recorded with each request it routes).
    pub name: String,
    /// What the escalation must look like; every given field must hold.
    #[serde(rename = "match", default)]
    pub when: Match,
    /// The escalation policy it picks.
    pub policy: String,
}

/// Conditions on an escalated request; an empty list or absent field
/// matches anything. Patterns are globs: `*` any run of characters, `?`
/// one; without either, an exact match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Match {
    /// Any of these safety classes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<crate::api::schemas::DecisionSafetyClass>)]
    pub safety_class: Vec<SafetyClass>,
    /// The amount within this range, in this currency (a request without
    /// an amount, or in another currency, does not match).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<AmountRange>,
    /// The counterparty matches any of these patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub counterparty: Vec<String>,
    /// The tool matches any of these patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tool: Vec<String>,
    /// The request carries every one of these tags.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// The agent matches any of these patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub agent: Vec<String>,
    /// A pack's route hint on the escalation matches any of these patterns.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub route: Vec<String>,
}

/// An amount range in one currency, in minor units, bounds included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AmountRange {
    /// ISO 4217 code, upper case.
    pub currency: String,
    /// Lowest amount that matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_minor_units: Option<i64>,
    /// Highest amount that matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_minor_units: Option<i64>,
}

/// A chain of steps; a request starts at the first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicy {
    /// 1 to 10 steps.
    pub steps: Vec<Step>,
    /// Neither the agent that asked nor the person it acts for
    /// (`on_behalf_of`) may vote (default `true`).
    #[serde(default = "yes")]
    pub no_self_approval: bool,
    /// Every vote must give a reason (default `false`; a deny always must).
    #[serde(default)]
    pub reason_required: bool,
    /// Whether an agent approver's vote counts towards the quorum and can
    /// deny (`count`), or is recorded as advice only (`advisory`, the default).
    #[serde(default)]
    pub agent_votes: AgentVotes,
    /// Where to announce the request, each step change and the resolution
    /// (a signed JSON `POST`, retried with backoff; see the README).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub webhooks: Vec<Webhook>,
}

/// A webhook that hears of an escalation policy's requests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Webhook {
    /// `https://` (or `http://`) URL, at most 2048 bytes.
    pub url: String,
}

fn yes() -> bool {
    true
}

/// How an agent approver's vote weighs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum AgentVotes {
    /// Recorded and shown, never decides.
    #[default]
    Advisory,
    /// Counts like a person's vote.
    Count,
}

/// One step of a chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Step {
    /// Who may vote on this step: 1 to 100 approvers.
    pub approvers: Vec<Approver>,
    /// Approvals that approve the request (default 1).
    #[serde(default = "one")]
    pub quorum: u32,
    /// Denials that deny it (default 1: any eligible approver's deny).
    #[serde(default = "one")]
    pub denials: u32,
    /// How long the step waits for its quorum (`30m`, `4h`, `2d`).
    pub sla: String,
    /// What the step's deadline does (default `deny`).
    #[serde(default)]
    pub on_timeout: OnTimeout,
}

fn one() -> u32 {
    1
}

/// Someone who may vote: a person by the token's `sub`, a group from the
/// token's `groups` claim, an agent identity (a token with the `agent`
/// role), or a downstream pack the host evaluates on the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum Approver {
    /// A person, by the `sub` of their token.
    User(String),
    /// Everyone whose token's `groups` claim lists this group.
    Group(String),
    /// An agent approver, by the `sub` of its token.
    Agent(String),
    /// A pack from the catalog, evaluated by the host on the escalated
    /// request: `allow` is an approval, `deny` a denial (with the pack's
    /// reason), `escalate` or no finding an abstention.
    Pack(crate::compositions::resolve::PackRef),
}

impl Approver {
    /// The `kind:name` token the store's eligibility column holds.
    pub fn key(&self) -> String {
        match self {
            Approver::User(s) => format!("user:{s}"),
            Approver::Group(s) => format!("group:{s}"),
            Approver::Agent(s) => format!("agent:{s}"),
            Approver::Pack(p) => format!("pack:{}", p.name),
        }
    }

    fn name(&self) -> &str {
        match self {
            Approver::User(s) | Approver::Group(s) | Approver::Agent(s) => s,
            Approver::Pack(p) => &p.name,
        }
    }
}

/// What a step's deadline does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnTimeout {
    /// The request is denied, recorded as timed out.
    #[default]
    Deny,
    /// The request moves to the next step (not on the last step).
    Next,
    /// The request is allowed, recorded as allowed on timeout; only for
    /// the safety classes the document lists in `allow_on_timeout`.
    Allow,
}

impl Step {
    /// The step's SLA (validated when the document was saved).
    pub fn sla(&self) -> std::time::Duration {
        humantime::parse_duration(&self.sla).unwrap_or(SLA_RANGE.0)
    }
}

fn bad(field: String, message: impl Into<String>) -> SettingsError {
    SettingsError::new(field, message.into())
}

/// A name or id: 1 to [`MAX_NAME`] bytes, no control characters.
fn text(field: String, s: &str) -> Result<(), SettingsError> {
    if s.is_empty() || s.len() > MAX_NAME {
        return Err(bad(field, format!("must be 1 to {MAX_NAME} bytes")));
    }
    if s.chars().any(char::is_control) {
        return Err(bad(field, "must not contain control characters"));
    }
    Ok(())
}

fn webhook_url(field: String, url: &str) -> Result<(), SettingsError> {
    if url.is_empty()
        || url.len() > MAX_URL
        || url.chars().any(|c| c.is_control() || c.is_whitespace())
    {
        return Err(bad(
            field,
            format!("must be a URL of 1 to {MAX_URL} bytes without spaces or control characters"),
        ));
    }
    let uri: axum::http::Uri = url
        .parse()
        .map_err(|e| bad(field.clone(), format!("is not a URL: {e}")))?;
    if !matches!(uri.scheme_str(), Some("http" | "https")) || uri.host().is_none_or(str::is_empty) {
        return Err(bad(
            field,
            "must be an `https://` or `http://` URL with a host",
        ));
    }
    if uri.authority().is_some_and(|a| a.as_str().contains('@')) {
        return Err(bad(
            field,
            "must not carry credentials: the payload is signed instead",
        ));
    }
    Ok(())
}

fn patterns(field: &str, list: &[String]) -> Result<(), SettingsError> {
    if list.len() > MAX_PATTERNS {
        return Err(bad(
            field.to_owned(),
            format!("at most {MAX_PATTERNS} patterns"),
        ));
    }
    for (i, p) in list.iter().enumerate() {
        let f = format!("{field}[{i}]");
        text(f.clone(), p)?;
        Glob::new(p).map_err(|m| bad(f, m))?;
    }
    Ok(())
}

impl ApprovalPolicy {
    /// Every downstream pack the document names, with the field naming it.
    pub fn packs(&self) -> Vec<(String, &crate::compositions::resolve::PackRef)> {
        let mut out = Vec::new();
        for (name, p) in &self.policies {
            for (i, s) in p.steps.iter().enumerate() {
                for (j, a) in s.approvers.iter().enumerate() {
                    if let Approver::Pack(r) = a {
                        out.push((format!("policies.{name}.steps[{i}].approvers[{j}].pack"), r));
                    }
                }
            }
        }
        out
    }

    /// Checks every field; the error names the first bad one by its path
    /// in the document (`policies.finance.steps[0].sla`).
    pub fn validate(&self) -> Result<(), SettingsError> {
        if self.routes.len() > MAX_ROUTES {
            return Err(bad("routes".into(), format!("at most {MAX_ROUTES} rules")));
        }
        if self.policies.is_empty() || self.policies.len() > MAX_POLICIES {
            return Err(bad(
                "policies".into(),
                format!("must hold 1 to {MAX_POLICIES} escalation policies"),
            ));
        }
        for (name, p) in &self.policies {
            let field = format!("policies.{name}");
            text(field.clone(), name)?;
            p.validate(&field)?;
        }
        if !self.policies.contains_key(&self.default_policy) {
            return Err(bad(
                "default_policy".into(),
                format!("no escalation policy `{}`", self.default_policy),
            ));
        }
        for (i, r) in self.routes.iter().enumerate() {
            let field = format!("routes[{i}]");
            text(format!("{field}.name"), &r.name)?;
            if !self.policies.contains_key(&r.policy) {
                return Err(bad(
                    format!("{field}.policy"),
                    format!("no escalation policy `{}`", r.policy),
                ));
            }
            r.when.validate(&format!("{field}.match"))?;
        }
        Ok(())
    }
}

impl Match {
    fn validate(&self, field: &str) -> Result<(), SettingsError> {
        if let Some(a) = &self.amount {
            let f = format!("{field}.amount");
            if a.currency.len() != 3 || !a.currency.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(bad(
                    format!("{f}.currency"),
                    "must be an ISO 4217 code: three upper-case letters",
                ));
            }
            for (name, v) in [
                ("min_minor_units", a.min_minor_units),
                ("max_minor_units", a.max_minor_units),
            ] {
                if v.is_some_and(|v| v < 0) {
                    return Err(bad(format!("{f}.{name}"), "must not be negative"));
                }
            }
            if let (Some(lo), Some(hi)) = (a.min_minor_units, a.max_minor_units)
                && lo > hi
            {
                return Err(bad(
                    format!("{f}.min_minor_units"),
                    "must not be above `max_minor_units`",
                ));
            }
        }
        patterns(&format!("{field}.counterparty"), &self.counterparty)?;
        patterns(&format!("{field}.tool"), &self.tool)?;
        patterns(&format!("{field}.agent"), &self.agent)?;
        patterns(&format!("{field}.route"), &self.route)?;
        if self.tags.len() > MAX_PATTERNS {
            return Err(bad(
                format!("{field}.tags"),
                format!("at most {MAX_PATTERNS} tags"),
            ));
        }
        for (i, t) in self.tags.iter().enumerate() {
            text(format!("{field}.tags[{i}]"), t)?;
        }
        Ok(())
    }
}

impl EscalationPolicy {
    fn validate(&self, field: &str) -> Result<(), SettingsError> {
        if self.steps.is_empty() || self.steps.len() > MAX_STEPS {
            return Err(bad(
                format!("{field}.steps"),
                format!("must hold 1 to {MAX_STEPS} steps"),
            ));
        }
        if self.webhooks.len() > MAX_WEBHOOKS {
            return Err(bad(
                format!("{field}.webhooks"),
                format!("at most {MAX_WEBHOOKS} webhooks"),
            ));
        }
        for (i, w) in self.webhooks.iter().enumerate() {
            webhook_url(format!("{field}.webhooks[{i}].url"), &w.url)?;
        }
        let last = self.steps.len() - 1;
        for (i, s) in self.steps.iter().enumerate() {
            let f = format!("{field}.steps[{i}]");
            if s.approvers.is_empty() || s.approvers.len() > MAX_APPROVERS {
                return Err(bad(
                    format!("{f}.approvers"),
                    format!("must name 1 to {MAX_APPROVERS} approvers"),
                ));
            }
            for (j, a) in s.approvers.iter().enumerate() {
                text(format!("{f}.approvers[{j}]"), a.name())?;
                if a.name().contains(' ') {
                    return Err(bad(
                        format!("{f}.approvers[{j}]"),
                        "must not contain spaces",
                    ));
                }
            }
            // Votes that can count: any number from a group; one per
            // named person or (counting) agent.
            let open = s.approvers.iter().any(|a| matches!(a, Approver::Group(_)));
            let voters = s
                .approvers
                .iter()
                .filter(|a| match a {
                    Approver::User(_) | Approver::Pack(_) => true,
                    Approver::Agent(_) => self.agent_votes == AgentVotes::Count,
                    Approver::Group(_) => false,
                })
                .count();
            for (name, n) in [("quorum", s.quorum), ("denials", s.denials)] {
                if n == 0 || n as usize > MAX_APPROVERS {
                    return Err(bad(
                        format!("{f}.{name}"),
                        format!("must be 1 to {MAX_APPROVERS}"),
                    ));
                }
                if !open && n as usize > voters {
                    return Err(bad(
                        format!("{f}.{name}"),
                        format!(
                            "is {n}, but the step names only {voters} approvers whose votes count"
                        ),
                    ));
                }
            }
            match humantime::parse_duration(&s.sla) {
                Ok(d) if d >= SLA_RANGE.0 && d <= SLA_RANGE.1 => {}
                Ok(_) => return Err(bad(format!("{f}.sla"), "must be from 1s to 30d")),
                Err(e) => {
                    return Err(bad(
                        format!("{f}.sla"),
                        format!("is not a duration such as `30m` or `4h`: {e}"),
                    ));
                }
            }
            if i == last && s.on_timeout == OnTimeout::Next {
                return Err(bad(
                    format!("{f}.on_timeout"),
                    "the last step has no next step",
                ));
            }
        }
        Ok(())
    }
}
