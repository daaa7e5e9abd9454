//! Replay: re-evaluating a recorded decision under exactly the configuration
//! it was made under (the `configuration` event its digest names, with the
//! packs' bytes from the content-addressed catalog) and comparing verdict,
//! routes, reason and findings with what was recorded. Packs are
//! deterministic (no clock, no randomness), so a decision that does not
//! reproduce was tampered with, depends on a masked field, or hit a
//! resource limit (a deadline) on one side.
//!
//! The same pieces serve what-if ([`crate::trace_log::what_if`]): the API and the CLI
//! both call these functions; only where compiled packs come from differs
//! ([`PackSource`]: the server's cache, or a store and an engine).

use crate::state::AppState;
use crate::trace_log::events::{Config, DecisionEvent, kind};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use utoipa::ToSchema;
use warden_host::{Composition, Engine, FindingRecord, Pack, Verdict};
use warden_store::{Store, StoreError, StoredRow};

/// Why a recorded decision cannot be replayed (or a what-if cannot run).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReplayError {
    /// No decision with this id in the tenant's log.
    #[error("decision `{decision_id}` is not in the trace log of tenant `{tenant}`")]
    NoDecision {
        /// The tenant.
        tenant: String,
        /// The decision id asked for.
        decision_id: String,
    },
    /// No event at this sequence number.
    #[error("there is no event at sequence number `{seq}` in the trace log of tenant `{tenant}`")]
    NoEvent {
        /// The tenant.
        tenant: String,
        /// The sequence number asked for.
        seq: u64,
    },
    /// The event is not a decision.
    #[error("the event at sequence number `{seq}` is a `{kind}` event, not a decision")]
    NotDecision {
        /// Its sequence number.
        seq: u64,
        /// Its kind.
        kind: String,
    },
    /// Retention removed the event's content.
    #[error("the decision at sequence number `{seq}` was pruned by retention; its content is gone")]
    Pruned {
        /// Its sequence number.
        seq: u64,
    },
    /// The configuration a decision names is not stored.
    #[error("configuration `{digest}` is not stored for tenant `{tenant}`; it cannot be rebuilt")]
    ConfigMissing {
        /// The tenant.
        tenant: String,
        /// The configuration digest.
        digest: String,
    },
    /// A pack's bytes are no longer in the catalog.
    #[error("the bytes of pack `{name}@{version}` (`{digest}`) are no longer in the catalog")]
    PackMissing {
        /// Pack name.
        name: String,
        /// Pack version.
        version: String,
        /// Pack digest.
        digest: String,
    },
    /// Stored pack bytes no longer load.
    #[error("stored pack `{digest}` no longer loads: {message}")]
    PackLoad {
        /// Pack digest.
        digest: String,
        /// Why.
        message: String,
    },
    /// A configuration no longer builds into a composition.
    #[error("configuration `{digest}` does not build: {message}")]
    Build {
        /// The configuration digest (or what was built).
        digest: String,
        /// Why.
        message: String,
    },
    /// A what-if candidate pack version is not in the catalog.
    #[error("pack `{name}@{version}` is not in the {scope}")]
    CandidateMissing {
        /// Pack name.
        name: String,
        /// Pack version.
        version: String,
        /// Where it was looked for.
        scope: String,
    },
    /// A stored event or configuration does not parse or does not match its digest.
    #[error("stored {what} is corrupt: {message}")]
    Corrupt {
        /// What was read.
        what: String,
        /// Why.
        message: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn corrupt(what: impl Into<String>, e: impl std::fmt::Display) -> ReplayError {
    ReplayError::Corrupt {
        what: what.into(),
        message: e.to_string(),
    }
}

/// Where replay gets compiled packs by digest.
pub trait PackSource: Sync {
    /// The compiled pack with this digest; `Ok(None)` when its bytes are gone.
    fn load(
        &self,
        digest: &str,
    ) -> impl Future<Output = Result<Option<Arc<Pack>>, ReplayError>> + Send;
}

/// The server's packs: its compiled-pack cache, else the catalog.
impl PackSource for AppState {
    async fn load(&self, digest: &str) -> Result<Option<Arc<Pack>>, ReplayError> {
        match self.pack(digest).await {
            Ok(p) => Ok(Some(p)),
            // Only the error path looks again, to tell gone from broken.
            Err(e) => match self.store().pack_bytes(digest).await? {
                None => Ok(None),
                Some(_) => Err(ReplayError::PackLoad {
                    digest: digest.to_owned(),
                    message: e.to_string(),
                }),
            },
        }
    }
}

/// Packs read from a store and compiled with an engine (the CLI), cached
/// for the life of this value.
#[derive(Debug)]
pub struct CatalogPacks {
    store: Store,
    engine: Engine,
    cache: Mutex<HashMap<String, Arc<Pack>>>,
}

impl CatalogPacks {
    /// Packs from `store`'s catalog, compiled by `engine`.
    pub fn new(store: Store, engine: Engine) -> CatalogPacks {
        CatalogPacks {
            store,
            engine,
            cache: Mutex::new(HashMap::new()),
        }
    }
}

impl PackSource for CatalogPacks {
    async fn load(&self, digest: &str) -> Result<Option<Arc<Pack>>, ReplayError> {
        if let Some(p) = self.cache.lock().ok().and_then(|m| m.get(digest).cloned()) {
            return Ok(Some(p));
        }
        let Some(bytes) = self.store.pack_bytes(digest).await? else {
            return Ok(None);
        };
        let pack = self
            .engine
            .load_pack_async(bytes)
            .await
            .map_err(|e| match e {
                warden_host::LoadError::Interrupted(m) => corrupt("pack", m),
                e => ReplayError::PackLoad {
                    digest: digest.to_owned(),
                    message: e.to_string(),
                },
            })?;
        if let Ok(mut m) = self.cache.lock() {
            m.insert(digest.to_owned(), Arc::clone(&pack));
        }
        Ok(Some(pack))
    }
}

/// A decision event read back from the log.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Its sequence number.
    pub seq: u64,
    /// Its body.
    pub event: DecisionEvent<'static>,
}

#[derive(Deserialize)]
struct Envelope {
    body: DecisionEvent<'static>,
}

impl Recorded {
    /// Reads a stored row: a decision with its content, else why not.
    pub fn from_row(row: &StoredRow) -> Result<Recorded, ReplayError> {
        if row.kind != kind::DECISION {
            return Err(ReplayError::NotDecision {
                seq: row.seq,
                kind: row.kind.clone(),
            });
        }
        if row.pruned {
            return Err(ReplayError::Pruned { seq: row.seq });
        }
        let env: Envelope = serde_json::from_str(&row.event).map_err(|e| {
            corrupt(
                format!("decision event at sequence number `{}`", row.seq),
                e,
            )
        })?;
        Ok(Recorded {
            seq: row.seq,
            event: env.body,
        })
    }

    /// What the decision said.
    pub fn outcome(&self) -> Outcome {
        Outcome {
            verdict: self.event.verdict,
            routes: self.event.routes.to_vec(),
            reason: self.event.reason.to_string(),
            findings: self.event.findings.to_vec(),
        }
    }
}

/// Which recorded decision to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// By the decision id returned to the caller.
    DecisionId(String),
    /// By its sequence number in the tenant's log.
    Seq(u64),
}

/// Finds and reads a recorded decision.
pub async fn recorded(
    store: &Store,
    tenant: &str,
    target: &Target,
) -> Result<Recorded, ReplayError> {
    let row = match target {
        Target::DecisionId(id) => store
            .trace_event_by_decision(tenant, id)
            .await?
            .ok_or_else(|| ReplayError::NoDecision {
                tenant: tenant.to_owned(),
                decision_id: id.clone(),
            })?,
        Target::Seq(seq) => {
            store
                .trace_event_at(tenant, *seq)
                .await?
                .ok_or_else(|| ReplayError::NoEvent {
                    tenant: tenant.to_owned(),
                    seq: *seq,
                })?
        }
    };
    Recorded::from_row(&row)
}

/// The effective configuration a digest names, checked against the digest.
pub async fn config(store: &Store, tenant: &str, digest: &str) -> Result<Config, ReplayError> {
    let text =
        store
            .trace_config(tenant, digest)
            .await?
            .ok_or_else(|| ReplayError::ConfigMissing {
                tenant: tenant.to_owned(),
                digest: digest.to_owned(),
            })?;
    let what = || format!("configuration `{digest}`");
    let config: Config = serde_json::from_str(&text).map_err(|e| corrupt(what(), e))?;
    let actual = config.digest()?;
    if actual != digest {
        return Err(corrupt(what(), format!("its content hashes to `{actual}`")));
    }
    Ok(config)
}

/// Builds `config` for `tenant` (off the async threads), with every pack
/// named like `swap` replaced by it. `digest` names the build in errors.
pub async fn build<P: PackSource>(
    packs: &P,
    tenant: &str,
    config: &Config,
    swap: Option<&Arc<Pack>>,
    digest: &str,
) -> Result<Arc<Composition>, ReplayError> {
    let mut loaded = Vec::with_capacity(config.packs.len());
    for p in &config.packs {
        if let Some(s) = swap.filter(|s| s.name() == p.name) {
            loaded.push(Arc::clone(s));
            continue;
        }
        let pack = packs
            .load(&p.digest)
            .await?
            .ok_or_else(|| ReplayError::PackMissing {
                name: p.name.clone(),
                version: p.version.clone(),
                digest: p.digest.clone(),
            })?;
        loaded.push(pack);
    }
    let built = Composition::build_async(tenant, loaded, config.spec.clone())
        .await
        .map_err(|e| match e {
            warden_host::ComposeError::Interrupted(m) => corrupt("composition", m),
            e => ReplayError::Build {
                digest: digest.to_owned(),
                message: e.to_string(),
            },
        })?;
    Ok(Arc::new(built))
}

/// What a decision said: the fields replay compares.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Outcome {
    /// Allow, deny or escalate.
    #[schema(value_type = String, example = "allow")]
    pub verdict: Verdict,
    /// Routing hints of an escalation.
    pub routes: Vec<String>,
    /// The one-line reason.
    pub reason: String,
    /// Every finding of every pack.
    #[schema(value_type = Vec<Object>)]
    pub findings: Vec<FindingRecord>,
}

impl Outcome {
    /// The outcome of a decision made now.
    pub fn of(d: &warden_host::Decision) -> Outcome {
        Outcome {
            verdict: d.verdict,
            routes: d.routes.clone(),
            reason: d.reason.clone(),
            findings: d.explanation.findings.clone(),
        }
    }
}

/// A compared field that differs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Mismatch {
    /// `verdict`, `routes`, `reason` or `findings`.
    pub field: String,
    /// What the log says.
    #[schema(value_type = Object)]
    pub recorded: Value,
    /// What re-evaluation gave.
    #[schema(value_type = Object)]
    pub replayed: Value,
}

fn json<T: Serialize>(x: &T) -> Value {
    serde_json::to_value(x).unwrap_or_default()
}

/// The fields of two outcomes that differ, in a fixed order.
pub fn mismatches(recorded: &Outcome, replayed: &Outcome) -> Vec<Mismatch> {
    [
        ("verdict", json(&recorded.verdict), json(&replayed.verdict)),
        ("routes", json(&recorded.routes), json(&replayed.routes)),
        ("reason", json(&recorded.reason), json(&replayed.reason)),
        (
            "findings",
            json(&recorded.findings),
            json(&replayed.findings),
        ),
    ]
    .into_iter()
    .filter(|(_, a, b)| a != b)
    .map(|(field, recorded, replayed)| Mismatch {
        field: field.to_owned(),
        recorded,
        replayed,
    })
    .collect()
}

/// What replaying one decision found.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplayReport {
    /// The decision's sequence number in the tenant's log.
    pub seq: u64,
    /// The decision id.
    pub decision_id: String,
    /// The request (run) id.
    pub request_id: String,
    /// Digest of the configuration it was rebuilt from.
    pub config: String,
    /// Whether re-evaluation gave the recorded verdict, routes, reason and findings.
    pub reproduced: bool,
    /// What the log says.
    pub recorded: Outcome,
    /// What re-evaluating the stored request gave.
    pub replayed: Outcome,
    /// The fields that differ.
    pub mismatches: Vec<Mismatch>,
    /// Whether the stored request was masked.
    pub masked: bool,
    /// Why it may not have reproduced, when there is a likely reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// The note of a masked request that did not reproduce.
pub const MASKED_NOTE: &str = "the request was stored masked: a rule that read a masked field \
     decides on the stored value now, so masking may be why it did not reproduce";

/// Replays one recorded decision under the configuration it was made under.
pub async fn replay<P: PackSource>(
    store: &Store,
    packs: &P,
    tenant: &str,
    target: &Target,
) -> Result<ReplayReport, ReplayError> {
    let rec = recorded(store, tenant, target).await?;
    let digest = rec.event.config.to_string();
    let config = config(store, tenant, &digest).await?;
    let composition = build(packs, tenant, &config, None, &digest).await?;
    let decision = composition
        .evaluate_async(rec.event.request.as_ref().clone())
        .await;
    let recorded = rec.outcome();
    let replayed = Outcome::of(&decision);
    let mismatches = mismatches(&recorded, &replayed);
    let reproduced = mismatches.is_empty();
    Ok(ReplayReport {
        seq: rec.seq,
        decision_id: rec.event.decision_id.to_string(),
        request_id: rec.event.request.id.clone(),
        config: digest,
        reproduced,
        recorded,
        replayed,
        mismatches,
        masked: rec.event.masked,
        note: (rec.event.masked && !reproduced).then(|| MASKED_NOTE.to_owned()),
    })
}
