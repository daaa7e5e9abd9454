//! What-if: recorded decisions re-evaluated under a candidate (another
//! version of one pack swapped into each decision's recorded configuration,
//! or one draft composition for all of them) and compared with what was
//! recorded. The baseline is the log, not a re-evaluation: a flip is a
//! recorded verdict the candidate would have changed.
//!
//! Bounded: at most [`MAX_LIMIT`] decisions per run, each distinct
//! configuration built once, and every evaluation off the async threads.

use crate::compositions::resolve::Source;
use crate::trace_log::replay::{self, Outcome, PackSource, Recorded, ReplayError};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use utoipa::ToSchema;
use warden_host::{Composition, Pack, Verdict};
use warden_store::Store;

/// Decisions one run looks at when no limit is given.
pub const DEFAULT_LIMIT: usize = 1000;

/// Most decisions one run looks at.
pub const MAX_LIMIT: usize = 10_000;

/// What the recorded decisions are re-evaluated under.
#[derive(Debug, Clone)]
pub enum Candidate {
    /// Each decision's recorded configuration with this pack in place of
    /// the version of the same name (decisions whose configuration does not
    /// use the pack are unaffected and not re-evaluated).
    Pack(Arc<Pack>),
    /// One composition for every decision (a draft, resolved and built).
    Composition(Arc<Composition>),
}

impl Candidate {
    /// `name@version (digest)` or `draft composition`.
    pub fn describe(&self) -> String {
        match self {
            Candidate::Pack(p) => format!("{}@{} ({})", p.name(), p.version(), p.digest()),
            Candidate::Composition(_) => "draft composition".to_owned(),
        }
    }
}

/// Finds a catalog version of a pack and loads it: in `source`, or the
/// fleet catalog first and then the tenant's private packs.
pub async fn candidate_pack<P: PackSource>(
    store: &Store,
    packs: &P,
    tenant: &str,
    name: &str,
    version: &str,
    source: Option<Source>,
) -> Result<Candidate, ReplayError> {
    let scopes: &[(&str, Source)] = &[(crate::FLEET, Source::Fleet), (tenant, Source::Tenant)];
    let mut row = None;
    for (scope, s) in scopes {
        if source.is_none_or(|want| want == *s)
            && let Some(r) = store.pack(scope, name, version).await?
        {
            row = Some(r);
            break;
        }
    }
    let row = row.ok_or_else(|| ReplayError::CandidateMissing {
        name: name.to_owned(),
        version: version.to_owned(),
        scope: match source {
            Some(Source::Fleet) => "fleet catalog".to_owned(),
            Some(Source::Tenant) => format!("private packs of tenant `{tenant}`"),
            None => format!("fleet catalog or the private packs of tenant `{tenant}`"),
        },
    })?;
    let pack = packs
        .load(&row.digest)
        .await?
        .ok_or_else(|| ReplayError::PackMissing {
            name: row.name.clone(),
            version: row.version.clone(),
            digest: row.digest.clone(),
        })?;
    Ok(Candidate::Pack(pack))
}

/// Which recorded decisions: those with `from_seq <= seq <= to_seq`, at
/// most `limit` of them, the oldest (or with `latest`, the newest).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    /// First sequence number.
    pub from_seq: u64,
    /// Last sequence number.
    pub to_seq: u64,
    /// Most decisions, 1 to [`MAX_LIMIT`].
    pub limit: usize,
    /// Take the newest decisions of the range instead of the oldest.
    pub latest: bool,
}

impl Window {
    /// The oldest `limit` decisions of the range (`limit` is clamped to
    /// 1..=[`MAX_LIMIT`]).
    pub fn new(from_seq: Option<u64>, to_seq: Option<u64>, limit: usize) -> Window {
        Window {
            from_seq: from_seq.unwrap_or(1),
            to_seq: to_seq.unwrap_or(u64::MAX),
            limit: limit.clamp(1, MAX_LIMIT),
            latest: false,
        }
    }

    /// The tenant's last `n` decisions.
    pub fn last(n: usize) -> Window {
        Window {
            latest: true,
            ..Window::new(None, None, n)
        }
    }
}

/// A recorded verdict and reason.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Before {
    /// The recorded verdict.
    #[schema(value_type = String, example = "allow")]
    pub verdict: Verdict,
    /// The recorded reason.
    pub reason: String,
}

/// A decision whose verdict the candidate changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Flip {
    /// Sequence number of the decision event.
    pub seq: u64,
    /// The decision id.
    pub decision_id: String,
    /// The request (run) id.
    pub request_id: String,
    /// Whether the stored request was masked (a rule reading a masked
    /// field sees the stored value, which may be why it flips).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub masked: bool,
    /// What was recorded.
    pub before: Before,
    /// What the candidate decides (routes included).
    pub after: Outcome,
}

/// Decisions that could not be re-evaluated because their configuration
/// could not be rebuilt with the candidate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Unbuilt {
    /// The configuration digest.
    pub config: String,
    /// Decisions made under it that were skipped.
    pub decisions: u64,
    /// Why.
    pub message: String,
}

/// What a what-if run found.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WhatIfReport {
    /// What the decisions were re-evaluated under.
    pub candidate: String,
    /// Decision events read (pruned ones included).
    pub scanned: u64,
    /// Decisions re-evaluated under the candidate.
    pub evaluated: u64,
    /// Decisions whose verdict the candidate changes (the flips).
    pub changed: u64,
    /// Decisions made under configurations that do not use the candidate
    /// pack: the candidate cannot change them, so they were not re-evaluated.
    pub unaffected: u64,
    /// Decisions whose content retention removed.
    pub pruned: u64,
    /// For a pack candidate: the version of that pack each re-evaluated
    /// decision was recorded under, and how many.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub baseline: BTreeMap<String, u64>,
    /// Every changed decision, in log order.
    pub flips: Vec<Flip>,
    /// Changed decisions by `recorded->candidate` verdict (`allow->deny`).
    pub by_transition: BTreeMap<String, u64>,
    /// Configurations that could not be rebuilt with the candidate.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unbuilt: Vec<Unbuilt>,
    /// When the window's limit cut the range short: where the next run starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_seq: Option<u64>,
}

/// How each configuration fares under the candidate.
enum Plan {
    /// Re-evaluate under this composition.
    Evaluate(Arc<Composition>, Option<String>),
    /// The candidate does not touch it.
    Unaffected,
    /// It cannot be rebuilt.
    Unbuilt(String),
}

async fn plan<P: PackSource>(
    store: &Store,
    packs: &P,
    tenant: &str,
    candidate: &Candidate,
    digest: &str,
) -> Plan {
    let pack = match candidate {
        Candidate::Composition(c) => return Plan::Evaluate(Arc::clone(c), None),
        Candidate::Pack(p) => p,
    };
    let config = match replay::config(store, tenant, digest).await {
        Ok(c) => c,
        Err(e) => return Plan::Unbuilt(e.to_string()),
    };
    let Some(old) = config.packs.iter().find(|p| p.name == pack.name()) else {
        return Plan::Unaffected;
    };
    let version = old.version.clone();
    match replay::build(packs, tenant, &config, Some(pack), digest).await {
        Ok(c) => Plan::Evaluate(c, Some(version)),
        Err(e) => Plan::Unbuilt(e.to_string()),
    }
}

/// Re-evaluates the window's recorded decisions under `candidate`.
pub async fn what_if<P: PackSource>(
    store: &Store,
    packs: &P,
    tenant: &str,
    candidate: &Candidate,
    window: Window,
) -> Result<WhatIfReport, ReplayError> {
    let limit = i64::try_from(window.limit.clamp(1, MAX_LIMIT)).unwrap_or(1);
    let rows = if window.latest {
        store
            .trace_decisions_last(tenant, window.from_seq, window.to_seq, limit)
            .await?
    } else {
        store
            .trace_decisions(tenant, window.from_seq, window.to_seq, limit)
            .await?
    };
    let mut report = WhatIfReport {
        candidate: candidate.describe(),
        scanned: rows.len() as u64,
        ..WhatIfReport::default()
    };
    if !window.latest
        && rows.len() as i64 == limit
        && let Some(last) = rows.last()
        && last.seq < window.to_seq
    {
        report.next_seq = Some(last.seq + 1);
    }
    let mut plans: HashMap<String, Plan> = HashMap::new();
    let mut unbuilt: BTreeMap<String, (u64, String)> = BTreeMap::new();
    let mut jobs: Vec<(Recorded, Arc<Composition>)> = Vec::new();
    for row in &rows {
        if row.pruned {
            report.pruned += 1;
            continue;
        }
        let rec = Recorded::from_row(row)?;
        let digest = rec.event.config.to_string();
        if !plans.contains_key(&digest) {
            let p = plan(store, packs, tenant, candidate, &digest).await;
            plans.insert(digest.clone(), p);
        }
        match plans.get(&digest) {
            Some(Plan::Evaluate(c, version)) => {
                if let Some(v) = version {
                    *report.baseline.entry(v.clone()).or_default() += 1;
                }
                jobs.push((rec, Arc::clone(c)));
            }
            Some(Plan::Unbuilt(message)) => {
                unbuilt.entry(digest).or_insert((0, message.clone())).0 += 1;
            }
            Some(Plan::Unaffected) | None => report.unaffected += 1,
        }
    }
    report.unbuilt = unbuilt
        .into_iter()
        .map(|(config, (decisions, message))| Unbuilt {
            config,
            decisions,
            message,
        })
        .collect();
    report.evaluated = jobs.len() as u64;
    let flips = tokio::task::spawn_blocking(move || evaluate(&jobs))
        .await
        .map_err(|e| ReplayError::Corrupt {
            what: "what-if evaluation".to_owned(),
            message: e.to_string(),
        })?;
    for f in &flips {
        let key = format!(
            "{}->{}",
            f.before.verdict.as_str(),
            f.after.verdict.as_str()
        );
        *report.by_transition.entry(key).or_default() += 1;
    }
    report.changed = flips.len() as u64;
    report.flips = flips;
    Ok(report)
}

/// Evaluates each recorded request under its composition; the flips.
fn evaluate(jobs: &[(Recorded, Arc<Composition>)]) -> Vec<Flip> {
    jobs.iter()
        .filter_map(|(rec, composition)| {
            let d = composition.evaluate(&rec.event.request);
            (d.verdict != rec.event.verdict).then(|| Flip {
                seq: rec.seq,
                decision_id: rec.event.decision_id.to_string(),
                request_id: rec.event.request.id.clone(),
                masked: rec.event.masked,
                before: Before {
                    verdict: rec.event.verdict,
                    reason: rec.event.reason.to_string(),
                },
                after: Outcome::of(&d),
            })
        })
        .collect()
}
