//! Starting a rollout and moving it along: every step is checked against
//! the rollout's rules, against the tenants it moves (who cannot build
//! their compositions with the new version is held back, or the step is
//! refused), and saved only if the rollout did not change meanwhile.

use crate::compositions::resolve::{CompositionDoc, Source};
use crate::state::{AppState, StateError};
use crate::trace_log::events::{FLEET_LOG, audit};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use warden_host::rollout::{Mode, Rollout, RolloutError, Stage, State};
use warden_store::{RolloutWrite, StoreError, now_ms};

/// What to do with tenants a stage reaches that cannot build their
/// composition with the new version.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnIncompatible {
    /// Keep such tenants on the old version.
    #[default]
    Hold,
    /// Refuse the step (409, naming the tenants).
    Refuse,
}

/// When a step checks which tenants can build the new version.
#[derive(Debug, Clone, Copy)]
pub enum Cohort {
    /// It does not change who is served what (pause, resume, rollback).
    Unchecked,
    /// After the step, for the stage it reaches (start, advance, mode).
    After(OnIncompatible),
    /// Before the step, holding (complete: who is held is found out
    /// afresh, since a tenant may have fixed its layer or pinned a version).
    Before,
}

/// Why a rollout was not started or moved.
#[derive(Debug, thiserror::Error)]
pub enum StepError {
    /// The target version is not semver.
    #[error("`to` version `{to}` is not semver: {source}")]
    BadVersion {
        /// The version as given.
        to: String,
        /// What the parser said.
        source: semver::Error,
    },
    /// No such fleet pack.
    #[error("fleet pack `{0}` not found")]
    NoSuchPack(String),
    /// No such version of the pack.
    #[error("pack version `{0}` not found")]
    NoSuchVersion(String),
    /// No such rollout.
    #[error("rollout `{0}` not found")]
    NoSuchRollout(String),
    /// The rollout cannot start as asked (a stage that makes no sense, a
    /// version that is not newer).
    #[error(transparent)]
    BadStart(RolloutError),
    /// The step is not allowed in the rollout's state.
    #[error(transparent)]
    NotAllowed(RolloutError),
    /// The pack already has an open rollout.
    #[error("pack `{0}` already has an open rollout; complete or roll it back first")]
    AlreadyOpen(String),
    /// Tenants the step reaches cannot build their compositions, and the
    /// step was asked to refuse rather than hold them.
    #[error(
        "the step was refused: tenants `{}` cannot build their compositions with `{pack}@{to}`",
        names(.incompatible)
    )]
    Refused {
        /// The pack.
        pack: String,
        /// The new version.
        to: String,
        /// Each tenant, and why its composition does not build.
        incompatible: BTreeMap<String, String>,
    },
    /// Someone else changed the rollout since it was read.
    #[error("rollout `{0}` changed meanwhile; read it and try again")]
    Changed(String),
    /// A tenant's composition could not be checked for a reason that is not
    /// the composition's (the database, the server).
    #[error(transparent)]
    State(#[from] StateError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn names(tenants: &BTreeMap<String, String>) -> String {
    tenants.keys().cloned().collect::<Vec<_>>().join("`, `")
}

/// What a new rollout is asked to do.
#[derive(Debug, Clone)]
pub struct Start {
    /// A fleet pack.
    pub pack: String,
    /// The version to move to.
    pub to: String,
    /// The first stage.
    pub stage: Stage,
    /// Enforce or shadow the new version.
    pub mode: Mode,
    /// Hold or refuse incompatible tenants.
    pub on_incompatible: OnIncompatible,
}

/// Starts a rollout of a fleet pack from its current version.
pub async fn start(st: &AppState, s: Start, actor: &str) -> Result<Rollout, StepError> {
    let to = semver::Version::parse(&s.to).map_err(|source| StepError::BadVersion {
        to: s.to.clone(),
        source,
    })?;
    let from = st
        .store()
        .current_version(&s.pack)
        .await?
        .ok_or_else(|| StepError::NoSuchPack(s.pack.clone()))?;
    let from =
        semver::Version::parse(&from).map_err(|e| warden_store::corrupt("current version", e))?;
    if st
        .store()
        .pack(crate::FLEET, &s.pack, &s.to)
        .await?
        .is_none()
    {
        return Err(StepError::NoSuchVersion(format!("{}@{}", s.pack, s.to)));
    }
    let id = format!("ro-{}", uuid::Uuid::now_v7().simple());
    let mut r = Rollout::start(
        id,
        s.pack.clone(),
        from,
        to,
        s.stage,
        s.mode,
        now_ms(),
        actor.to_owned(),
    )
    .map_err(StepError::BadStart)?;
    check_cohort(st, &mut r, s.on_incompatible).await?;
    let event = audit(
        FLEET_LOG,
        "rollout-step",
        actor,
        serde_json::json!({"action": "start", "rollout": r}),
    )?;
    match st.store().insert_rollout(&r, &event).await? {
        RolloutWrite::Ok => {
            st.refresh().await?;
            Ok(r)
        }
        RolloutWrite::Conflict => Err(StepError::AlreadyOpen(s.pack)),
    }
}

/// A rollout by id.
pub async fn get(st: &AppState, id: &str) -> Result<Rollout, StepError> {
    Ok(load(st, id).await?.1)
}

async fn load(st: &AppState, id: &str) -> Result<(String, Rollout), StepError> {
    let stored = st
        .store()
        .rollout(id)
        .await?
        .ok_or_else(|| StepError::NoSuchRollout(id.to_owned()))?;
    Ok((stored.doc, stored.rollout))
}

/// Applies the step `f` (named `action` in the fleet log) and saves it,
/// compare-and-swap on the stored document.
pub async fn step(
    st: &AppState,
    id: &str,
    action: &str,
    actor: &str,
    cohort: Cohort,
    f: impl FnOnce(&mut Rollout) -> Result<(), RolloutError>,
) -> Result<Rollout, StepError> {
    let (old, mut r) = load(st, id).await?;
    if let Cohort::Before = cohort {
        check_cohort(st, &mut r, OnIncompatible::Hold).await?;
    }
    f(&mut r).map_err(StepError::NotAllowed)?;
    if let Cohort::After(on) = cohort {
        check_cohort(st, &mut r, on).await?;
    }
    let to = r.to.to_string();
    let current = (r.state == State::Completed).then_some((r.pack.as_str(), to.as_str()));
    let event = audit(
        FLEET_LOG,
        "rollout-step",
        actor,
        serde_json::json!({"action": action, "rollout": r}),
    )?;
    match st.store().update_rollout(&old, &r, current, &event).await? {
        RolloutWrite::Ok => {
            st.refresh().await?;
            Ok(r)
        }
        RolloutWrite::Conflict => Err(StepError::Changed(id.to_owned())),
    }
}

/// Builds the composition of every tenant the rollout's stage moves onto
/// `to` (fleet compositions naming the pack, in the cohort) with the new
/// version first. Tenants that cannot build it are held on `from`
/// (`r.held`, with the reason), or the step is refused when asked to.
/// Held tenants are checked again at every step.
async fn check_cohort(st: &AppState, r: &mut Rollout, on: OnIncompatible) -> Result<(), StepError> {
    r.held.clear();
    let mut held = BTreeMap::new();
    for row in st.store().tenants_mentioning(&r.pack).await? {
        if !r.in_cohort(&row.id) {
            continue;
        }
        let Ok(doc) = CompositionDoc::stored(&row) else {
            continue;
        };
        let uses = doc
            .packs
            .iter()
            .any(|p| p.name == r.pack && p.source == Source::Fleet);
        if !uses {
            continue;
        }
        if let Err(e) = st.build_under(&row.id, &doc, Some(r)).await {
            // The server's fault, or the database's: not the tenant's.
            if e.is_internal() || e.is_unavailable() {
                return Err(e.into());
            }
            held.insert(row.id.clone(), e.to_string());
        }
    }
    if on == OnIncompatible::Refuse && !held.is_empty() {
        return Err(StepError::Refused {
            pack: r.pack.clone(),
            to: r.to.to_string(),
            incompatible: held,
        });
    }
    r.held = held;
    Ok(())
}
