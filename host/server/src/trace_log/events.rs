//! What the control plane writes to the trace log: decision events (the
//! request as stored after masking, the decision and its findings, the
//! packs that ran, the configuration digest), configuration events (the
//! effective composition a digest names and which version serves each pack
//! and why, so replay can rebuild it), and
//! admin events (packs, compositions, tenants, rollouts, pruning).
//!
//! Fleet-wide changes (fleet pack uploads, the fleet layer, rollout steps)
//! go to the fleet log, [`FLEET_LOG`], a chain like a tenant's whose id no
//! tenant can take; each tenant's own log records the configuration those
//! changes produced for it before the first decision made under it.

use crate::compositions::resolve::Served;
use crate::trace::{EventClass, canonical};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::borrow::Cow;
use warden_host::{Basis, CompositionSpec, Decision, FindingRecord, Request, SafetyClass, Verdict};
use warden_store::{Audit, EventIndex, NewEvent, StoreError};

pub use warden_store::{FLEET_LOG, new_event};

/// Event kinds.
pub mod kind {
    /// A decision.
    pub const DECISION: &str = "decision";
    /// An effective configuration, before the first decision made under it.
    pub const CONFIGURATION: &str = "configuration";
    /// A shadow version decided differently from the enforced one.
    pub const SHADOW_DIFFERENCE: &str = "shadow-difference";
    /// Retention removed expired events' content.
    pub const PRUNING: &str = "pruning";
}

/// One pack's run in a decision event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PackUsed<'a> {
    /// Pack name.
    pub pack: Cow<'a, str>,
    /// Version.
    pub version: Cow<'a, str>,
    /// Digest of the component.
    pub digest: Cow<'a, str>,
    /// `ok`, or what went wrong (a fail-closed finding says more).
    pub status: Cow<'a, str>,
}

/// The body of a `decision` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DecisionEvent<'a> {
    /// The decision id returned to the caller.
    pub decision_id: Cow<'a, str>,
    /// The request, after the tenant's masking rules.
    pub request: Cow<'a, Request>,
    /// Allow, deny or escalate.
    pub verdict: Verdict,
    /// Routing hints of an escalation.
    pub routes: Cow<'a, [String]>,
    /// The one-line reason.
    pub reason: Cow<'a, str>,
    /// Findings or the default effect.
    pub basis: Basis,
    /// Every finding of every pack.
    pub findings: Cow<'a, [FindingRecord]>,
    /// The packs that ran, in composition order.
    pub packs: Vec<PackUsed<'a>>,
    /// The override layers applied, least specific first.
    pub layers: Cow<'a, [String]>,
    /// Digest of the effective configuration (a `configuration` event).
    pub config: Cow<'a, str>,
    /// Which version served each pack, and why: in events written before
    /// 2026-11-28 only; since then the configuration holds it (it is the same
    /// for every decision under one configuration).
    #[serde(default, skip_serializing_if = "<[Served]>::is_empty")]
    pub serving: Cow<'a, [Served]>,
    /// Whether masking changed the stored request.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub masked: bool,
}

/// The retention class of a request's decision.
pub fn class_of(req: &Request) -> EventClass {
    match req.action.safety_class {
        SafetyClass::Financial => EventClass::Financial,
        SafetyClass::ReadOnly => EventClass::ReadOnly,
        _ => EventClass::Action,
    }
}

/// The event of one decision. `stored` is the request after masking.
pub fn decision_event(
    decision_id: &str,
    original: &Request,
    stored: &Request,
    decision: &Decision,
    config: &str,
) -> Result<NewEvent, StoreError> {
    let ex = &decision.explanation;
    let packs: Vec<PackUsed> = ex
        .packs
        .iter()
        .map(|p| PackUsed {
            pack: Cow::Borrowed(&p.pack),
            version: Cow::Borrowed(&p.version),
            digest: Cow::Borrowed(&p.digest),
            status: Cow::Borrowed(&p.status),
        })
        .collect();
    let index = EventIndex {
        agent: Some(original.principal.agent.clone()),
        tool: Some(original.action.tool.clone()),
        verdict: Some(decision.verdict.as_str().to_owned()),
        decision_id: Some(decision_id.to_owned()),
        request_id: Some(original.id.clone()),
        packs: packs
            .iter()
            .map(|p| format!("{}@{}", p.pack, p.version))
            .collect(),
    };
    let body = DecisionEvent {
        decision_id: Cow::Borrowed(decision_id),
        request: Cow::Borrowed(stored),
        verdict: decision.verdict,
        routes: Cow::Borrowed(&decision.routes),
        reason: Cow::Borrowed(&decision.reason),
        basis: ex.basis,
        findings: Cow::Borrowed(&ex.findings),
        packs,
        layers: Cow::Borrowed(&ex.layers),
        config: Cow::Borrowed(config),
        serving: Cow::Borrowed(&[]),
        masked: !std::ptr::eq(original, stored),
    };
    Ok(new_event(class_of(original), kind::DECISION, &body)?.with_index(index))
}

/// One pack of an effective configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigPack {
    /// Pack name.
    pub name: String,
    /// Version.
    pub version: String,
    /// Digest of the component (the catalog keeps the bytes by digest).
    pub digest: String,
}

/// An effective configuration: the packs in order and the composition spec
/// with every layer (defaults, fleet, the tenant's) that builds it. What a
/// decision was made under, and what replay rebuilds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Packs, in composition order.
    pub packs: Vec<ConfigPack>,
    /// Default effect, isolation and override layers.
    pub spec: CompositionSpec,
    /// Which version serves each pack, and why (rollouts, requirements).
    /// Absent from configurations recorded before 2026-11-28, whose
    /// decision events carry it instead.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serving: Vec<Served>,
}

impl Config {
    /// `sha256:<hex>` of the canonical JSON.
    pub fn digest(&self) -> Result<String, StoreError> {
        let bytes = canonical("configuration", self)
            .map_err(|e| warden_store::corrupt("trace event", e))?;
        Ok(format!("sha256:{}", hex::encode(Sha256::digest(&bytes))))
    }
}

/// The body of a `configuration` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigEvent {
    /// The digest decisions name.
    pub digest: String,
    /// The configuration.
    pub config: Config,
}

/// The body of an admin event: who did what, and the details.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminEvent {
    /// The caller's subject (`sub` claim), or `warden` for the server itself.
    pub actor: String,
    /// What changed.
    pub detail: Value,
}

/// An admin event of `kind` (`tenant-created`, `composition-changed`, ...)
/// for `log` (a tenant, or [`FLEET_LOG`]), to be committed with the change
/// it records.
pub fn audit(log: &str, kind: &str, actor: &str, detail: Value) -> Result<Audit, StoreError> {
    let event = new_event(
        EventClass::Admin,
        kind,
        &AdminEvent {
            actor: actor.to_owned(),
            detail,
        },
    )?;
    Ok(Audit {
        log: log.to_owned(),
        event,
    })
}
