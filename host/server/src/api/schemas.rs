//! Schemas of the OpenAPI document for bodies whose Rust types live in the
//! engine (which has no OpenAPI dependency) or parse through custom code:
//! the request of a decision, rollout stages and modes, the replay
//! selector (override layers: `server::resolve::OverrideLayer`). They mirror the types that parse the bodies, with
//! the same bounds, so a body the document calls valid is accepted.
#![allow(dead_code)]

use serde::Deserialize;
use utoipa::ToSchema;

/// A text of at most 256 characters without NUL (a role, a tag).
#[derive(Deserialize, ToSchema)]
#[schema(value_type = String, pattern = "^[^\\u0000]{0,256}$")]
pub struct DocText(String);

/// A decision request (see the README's request schema).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionPrincipal {
    /// The agent's id.
    #[schema(max_length = 256, pattern = "^[^\\u0000]*$")]
    agent: String,
    /// The human or service the agent acts for.
    #[schema(max_length = 256, pattern = "^[^\\u0000]*$")]
    on_behalf_of: Option<String>,
    /// The agent's roles (at most 64, each at most 256 characters).
    #[serde(default)]
    #[schema(max_items = 64)]
    roles: Vec<DocText>,
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
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionMoney {
    /// Minor units, within ±(2^53 - 1).
    #[schema(minimum = -9_007_199_254_740_991_i64, maximum = 9_007_199_254_740_991_i64)]
    minor_units: i64,
    /// ISO 4217 code.
    #[schema(pattern = "^[A-Z]{3}$")]
    currency: String,
}

/// The tool call.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
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
    /// Labels (at most 64, each at most 256 characters).
    #[serde(default)]
    #[schema(max_items = 64)]
    tags: Vec<DocText>,
    /// The tool call's arguments.
    #[schema(value_type = Option<Object>)]
    args: Option<serde_json::Value>,
}

/// A rollout stage.
#[derive(Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum RolloutStage {
    /// Named tenants.
    Canary {
        /// The tenants.
        #[schema(min_items = 1)]
        tenants: Vec<TenantId>,
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

/// Which decision to replay: by id or by sequence number (one of the two).
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum ReplaySelector {
    /// By decision id.
    ById(ReplayById),
    /// By sequence number.
    BySeq(ReplayBySeq),
}

/// A decision by its id.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayById {
    /// The decision id returned by `evaluate`.
    #[schema(min_length = 1, max_length = 256, pattern = "^[^\\u0000]*$")]
    decision_id: String,
}

/// A decision by its event's sequence number.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBySeq {
    /// The decision event's sequence number in the tenant's log.
    #[schema(minimum = 1, maximum = 9_223_372_036_854_775_807_i64)]
    seq: i64,
}

/// A tenant id: 1 to 63 lowercase letters, digits and `-`, starting with a
/// letter or digit.
#[derive(Deserialize, ToSchema)]
#[schema(value_type = String, pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
pub struct TenantId(String);

/// A pack name: 1 to 64 lowercase letters, digits, `-` and `_`.
#[derive(Deserialize, ToSchema)]
#[schema(value_type = String, pattern = "^[a-z0-9_-]{1,64}$")]
pub struct PackName(String);

/// A semantic version (semver.org; ASCII digits, numbers that fit 64 bits).
#[derive(Deserialize, ToSchema)]
#[schema(value_type = String, pattern = r"^(0|[1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,15})(-((0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?(\+([0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*))?$")]
pub struct Version(String);

/// What a what-if run re-evaluates under: a catalog version of one pack,
/// or a draft composition.
#[derive(Deserialize, ToSchema)]
#[serde(untagged)]
pub enum Candidate {
    /// A catalog version of one pack swapped into each recorded configuration.
    Pack(PackCandidate),
    /// A draft composition, resolved and built like `PUT .../composition` does.
    Composition(CompositionCandidate),
}

/// A catalog version of one pack.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackCandidate {
    /// Pack name.
    pack: PackName,
    /// Exact version.
    version: Version,
    /// `fleet` or `tenant`; default: the fleet catalog, else the tenant's private packs.
    #[schema(value_type = Option<String>, pattern = "^(fleet|tenant)$")]
    source: Option<String>,
}

/// A draft composition.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompositionCandidate {
    /// The composition.
    #[schema(value_type = crate::compositions::resolve::CompositionDoc)]
    composition: serde_json::Value,
}

/// A tenant's quarantine thresholds (see `warden_host::BreakerConfig`).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Quarantine {
    /// Failures within the window that open the breaker (0: never; default 5).
    #[schema(minimum = 0, maximum = 10000)]
    #[serde(default)]
    failures: u32,
    /// The window failures are counted in, ms (default 10000).
    #[schema(minimum = 1, maximum = 86_400_000)]
    #[serde(default)]
    window_ms: u64,
    /// The first quarantine, ms; doubled after each failed probe (default 30000).
    #[schema(minimum = 1, maximum = 86_400_000)]
    #[serde(default)]
    backoff_ms: u64,
    /// The longest quarantine, ms, at least `backoff_ms` (default 600000).
    #[schema(minimum = 1, maximum = 86_400_000)]
    #[serde(default)]
    max_backoff_ms: u64,
    /// Decisions a second while quarantined (0: not paced; default 20).
    #[schema(minimum = 0, maximum = 100_000)]
    #[serde(default)]
    paced_per_s: u32,
}

/// The fleet layer: an override layer whose name is always `fleet` (a
/// name given is ignored).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FleetLayer {
    /// Ignored: the fleet layer is named `fleet`.
    #[serde(default)]
    name: String,
    /// When set, the layer may only make outcomes stricter.
    #[serde(default)]
    restrict_only: bool,
    /// Overrides per pack name, then per rule id.
    #[serde(default)]
    packs: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, crate::compositions::resolve::RuleOverrideDoc>,
    >,
}
