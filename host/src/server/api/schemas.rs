//! Schemas of the OpenAPI document for bodies whose Rust types live in the
//! engine (which has no OpenAPI dependency) or parse through custom code:
//! the request of a decision, rollout stages and modes, override layers,
//! the replay selector. They mirror the types that parse the bodies, with
//! the same bounds, so a body the document calls valid is accepted.
#![allow(dead_code)]

use serde::Deserialize;
use utoipa::ToSchema;

/// A decision request (see the README's request schema).
#[derive(ToSchema)]
pub struct DecisionRequest {
    /// Unique id chosen by the runtime.
    #[schema(max_length = 256, pattern = "^[^\\u0000]*$")]
    id: String,
    /// The tenant (the path's).
    #[schema(max_length = 256, pattern = "^[^\\u0000]*$")]
    tenant: String,
    /// Who is acting.
    principal: DecisionPrincipal,
    /// What they want to do.
    action: DecisionAction,
    /// Extra context.
    #[schema(value_type = Option<Object>)]
    context: Option<serde_json::Value>,
}

/// Who is acting.
#[derive(ToSchema)]
pub struct DecisionPrincipal {
    /// The agent's id.
    #[schema(max_length = 256, pattern = "^[^\\u0000]*$")]
    agent: String,
    /// The human or service the agent acts for.
    #[schema(max_length = 256, pattern = "^[^\\u0000]*$")]
    on_behalf_of: Option<String>,
    /// The agent's roles (at most 64, each at most 256 bytes).
    #[schema(max_items = 64, value_type = Option<Vec<String>>)]
    roles: Option<Vec<String>>,
}

/// How dangerous a tool call is.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum DecisionSafetyClass {
    /// Reads data.
    ReadOnly,
    /// Changes data inside the organisation.
    Write,
    /// Moves money.
    Financial,
    /// Deletes data.
    Destructive,
    /// Talks to a system outside the organisation.
    External,
}

/// An amount in minor units.
#[derive(ToSchema)]
pub struct DecisionMoney {
    /// Minor units.
    minor_units: i64,
    /// ISO 4217 code.
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: String,
}

/// The tool call.
#[derive(ToSchema)]
pub struct DecisionAction {
    /// Tool name.
    #[schema(max_length = 256, pattern = "^[^\\u0000]*$")]
    tool: String,
    /// The runtime's classification.
    safety_class: DecisionSafetyClass,
    /// Amount, for financial actions.
    amount: Option<DecisionMoney>,
    /// The other party.
    #[schema(max_length = 1024, pattern = "^[^\\u0000]*$")]
    counterparty: Option<String>,
    /// Labels (at most 64, each at most 256 bytes).
    #[schema(max_items = 64, value_type = Option<Vec<String>>)]
    tags: Option<Vec<String>>,
    /// The tool call's arguments.
    #[schema(value_type = Option<Object>)]
    args: Option<serde_json::Value>,
}

/// A rollout stage.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum RolloutStage {
    /// Named tenants.
    Canary {
        /// The tenants.
        #[schema(min_items = 1)]
        tenants: Vec<String>,
    },
    /// A share of tenants by stable bucket.
    Percentage {
        /// 0 to 100, at most two decimals.
        #[schema(minimum = 0, maximum = 100)]
        percent: f64,
    },
    /// Every tenant.
    Full,
}

/// Whether the cohort is served the new version or only shadows it.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum RolloutMode {
    /// Served.
    Enforce,
    /// Evaluated alongside, not enforced.
    Shadow,
}

/// An override layer.
#[derive(ToSchema)]
pub struct OverrideLayer {
    /// Name shown in explanations (`fleet`, `tenant:acme`).
    #[schema(min_length = 1, max_length = 256)]
    name: String,
    /// When set, the layer may only make outcomes stricter.
    restrict_only: Option<bool>,
    /// Overrides per pack name, then per rule id.
    #[schema(value_type = Option<std::collections::BTreeMap<String, std::collections::BTreeMap<String, RuleOverrideDoc>>>)]
    packs: Option<serde_json::Value>,
}

/// What a layer changes about one rule.
#[derive(ToSchema)]
pub struct RuleOverrideDoc {
    /// Turn the rule on or off.
    enabled: Option<bool>,
    /// Parameters to set, merged key by key.
    #[schema(value_type = Option<Object>)]
    params: Option<serde_json::Value>,
    /// Replace the verdict of the rule's deny and escalate findings.
    #[schema(value_type = Option<String>, pattern = "^(allow|deny|escalate)$")]
    verdict: Option<String>,
}
