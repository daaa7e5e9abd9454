//! Staged rollouts of fleet packs, and the shadow-mode differences.

use super::Paged;
use crate::compositions::resolve::{CompositionDoc, Source};
use crate::http::extract::{ApiJson, ApiQuery, Caller, PageParams};
use crate::http::problem::{ApiError, Kind, Problem};
use crate::state::AppState;
use crate::trace_log::events::{FLEET_LOG, audit};
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use warden_host::rollout::{Mode, Rollout, Stage, State as RState};
use warden_store::{RolloutWrite, now_ms};

/// Body of `POST /v1/rollouts`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StartRollout {
    /// A fleet pack.
    #[schema(value_type = super::schemas::PackName)]
    pub pack: String,
    /// The version to move to; the rollout starts from the current version.
    #[schema(value_type = super::schemas::Version)]
    pub to: String,
    /// First stage, e.g. `{"kind": "canary", "tenants": ["acme"]}`.
    #[schema(value_type = super::schemas::RolloutStage)]
    pub stage: Stage,
    /// `enforce` (default) or `shadow`.
    #[serde(default = "enforce")]
    #[schema(value_type = super::schemas::RolloutMode)]
    pub mode: Mode,
    /// What to do with tenants the stage reaches that cannot build their
    /// composition with the new version: `hold` them on the old version
    /// (default; listed in the rollout's `held`), or `refuse` the step.
    #[serde(default)]
    pub on_incompatible: OnIncompatible,
}

/// See [`StartRollout::on_incompatible`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum OnIncompatible {
    /// Keep such tenants on the old version.
    #[default]
    Hold,
    /// Refuse the step (409, naming the tenants).
    Refuse,
}

fn enforce() -> Mode {
    Mode::Enforce
}

/// Body of `POST /v1/rollouts/{id}/advance`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Advance {
    /// The next stage.
    #[schema(value_type = super::schemas::RolloutStage)]
    pub stage: Stage,
    /// `hold` (default) or `refuse`: see `POST /v1/rollouts`.
    #[serde(default)]
    pub on_incompatible: OnIncompatible,
}

/// Body of `POST /v1/rollouts/{id}/mode`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetMode {
    /// `enforce` or `shadow`.
    #[schema(value_type = super::schemas::RolloutMode)]
    pub mode: Mode,
    /// `hold` (default) or `refuse`: see `POST /v1/rollouts`.
    #[serde(default)]
    pub on_incompatible: OnIncompatible,
}

fn state_key(s: RState) -> &'static str {
    match s {
        RState::Active => "active",
        RState::Paused => "paused",
        RState::RolledBack => "rolled-back",
        RState::Completed => "completed",
    }
}

fn rollout_error(e: warden_host::rollout::RolloutError) -> ApiError {
    ApiError::new(Kind::Conflict, e.to_string())
}

/// Starts a rollout of a fleet pack from its current version (fleet admins).
#[utoipa::path(post, path = "/v1/rollouts", tag = "rollouts", request_body = StartRollout,
    responses((status = 201, body = Object), (status = 409, body = Problem), (status = 422, body = Problem)),
    security(("bearer" = [])))]
pub async fn start(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<StartRollout>,
) -> Result<(StatusCode, Json<Rollout>), ApiError> {
    caller.fleet_admin()?;
    let to = semver::Version::parse(&body.to).map_err(|e| {
        ApiError::new(
            Kind::Unprocessable,
            format!("`to` version `{}` is not semver: {e}", body.to),
        )
    })?;
    let from = st
        .store()
        .current_version(&body.pack)
        .await?
        .ok_or_else(|| ApiError::not_found("fleet pack", &body.pack))?;
    let from = semver::Version::parse(&from).map_err(ApiError::internal)?;
    if st
        .store()
        .pack(crate::FLEET, &body.pack, &body.to)
        .await?
        .is_none()
    {
        return Err(ApiError::not_found(
            "pack version",
            &format!("{}@{}", body.pack, body.to),
        ));
    }
    let id = format!("ro-{}", uuid::Uuid::now_v7().simple());
    let r = Rollout::start(
        id.clone(),
        body.pack.clone(),
        from,
        to,
        body.stage,
        body.mode,
        now_ms(),
        caller.sub().to_owned(),
    )
    .map_err(|e| ApiError::new(Kind::Unprocessable, e.to_string()))?;
    let mut r = r;
    check_cohort(&st, &mut r, body.on_incompatible).await?;
    let doc = serde_json::to_string(&r).map_err(ApiError::internal)?;
    let event = audit(
        FLEET_LOG,
        "rollout-step",
        caller.sub(),
        serde_json::json!({"action": "start", "rollout": r}),
    )?;
    match st
        .store()
        .insert_rollout(&id, &r.pack, state_key(r.state), &doc, &event)
        .await?
    {
        RolloutWrite::Ok => {
            st.refresh().await?;
            Ok((StatusCode::CREATED, Json(r)))
        }
        RolloutWrite::Conflict => Err(ApiError::new(
            Kind::Conflict,
            format!(
                "pack `{}` already has an open rollout; complete or roll it back first",
                body.pack
            ),
        )),
    }
}

/// Builds the composition of every tenant the rollout's stage moves onto
/// `to` (fleet compositions naming the pack, in the cohort) with the new
/// version first. Tenants that cannot build it are held on `from`
/// (`r.held`, with the reason), or the step is refused when asked to.
/// Held tenants are checked again at every step.
async fn check_cohort(st: &AppState, r: &mut Rollout, on: OnIncompatible) -> Result<(), ApiError> {
    r.held.clear();
    let mut held = std::collections::BTreeMap::new();
    for row in st.store().tenants_mentioning(&r.pack).await? {
        if !r.in_cohort(&row.id) {
            continue;
        }
        let doc: CompositionDoc = match serde_json::from_str(&row.composition) {
            Ok(d) => d,
            Err(_) => continue,
        };
        let uses = doc
            .packs
            .iter()
            .any(|p| p.name == r.pack && p.source == Source::Fleet);
        if !uses {
            continue;
        }
        if let Err(e) = st.build_under(&row.id, &doc, Some(r)).await {
            let e = ApiError::from(e);
            if e.kind == Kind::Internal || e.kind == Kind::Unavailable {
                return Err(e);
            }
            held.insert(row.id.clone(), e.detail);
        }
    }
    if on == OnIncompatible::Refuse && !held.is_empty() {
        let list: Vec<_> = held.keys().cloned().collect();
        return Err(ApiError::new(
            Kind::Conflict,
            format!(
                "the step was refused: tenants `{}` cannot build their compositions with `{}@{}`",
                list.join("`, `"),
                r.pack,
                r.to
            ),
        )
        .with(serde_json::json!({ "incompatible": held })));
    }
    r.held = held;
    Ok(())
}

async fn load(st: &AppState, id: &str) -> Result<(String, Rollout), ApiError> {
    let doc = st
        .store()
        .rollout(id)
        .await?
        .ok_or_else(|| ApiError::not_found("rollout", id))?;
    let r = serde_json::from_str(&doc)
        .map_err(|e| ApiError::internal(format!("stored rollout is corrupt: {e}")))?;
    Ok((doc, r))
}

/// When a transition checks which tenants can build the new version.
#[derive(Debug, Clone, Copy)]
enum Cohort {
    /// It does not change who is served what (pause, resume, rollback).
    Unchecked,
    /// After the step, for the stage it reaches (start, advance, mode).
    After(OnIncompatible),
    /// Before the step, holding (complete: who is held is found out
    /// afresh, since a tenant may have fixed its layer or pinned a version).
    Before,
}

/// Applies a transition and saves it (compare-and-swap on the document).
async fn transition(
    st: &AppState,
    id: &str,
    action: &str,
    actor: &str,
    cohort: Cohort,
    f: impl FnOnce(&mut Rollout) -> Result<(), warden_host::rollout::RolloutError>,
) -> Result<Json<Rollout>, ApiError> {
    let (old, mut r) = load(st, id).await?;
    if let Cohort::Before = cohort {
        check_cohort(st, &mut r, OnIncompatible::Hold).await?;
    }
    f(&mut r).map_err(rollout_error)?;
    if let Cohort::After(on) = cohort {
        check_cohort(st, &mut r, on).await?;
    }
    let doc = serde_json::to_string(&r).map_err(ApiError::internal)?;
    let to = r.to.to_string();
    let current = (r.state == RState::Completed).then_some((r.pack.as_str(), to.as_str()));
    let event = audit(
        FLEET_LOG,
        "rollout-step",
        actor,
        serde_json::json!({"action": action, "rollout": r}),
    )?;
    match st
        .store()
        .update_rollout(id, &old, state_key(r.state), &doc, current, &event)
        .await?
    {
        RolloutWrite::Ok => {
            st.refresh().await?;
            Ok(Json(r))
        }
        RolloutWrite::Conflict => Err(ApiError::new(
            Kind::VersionConflict,
            format!("rollout `{id}` changed meanwhile; read it and try again"),
        )),
    }
}

/// Lists rollouts.
#[utoipa::path(get, path = "/v1/rollouts", tag = "rollouts", operation_id = "list_rollouts", params(PageParams),
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Paged<Rollout>>, ApiError> {
    caller.fleet_admin()?;
    let p = st
        .store()
        .rollouts(page.cursor.as_deref(), page.limit()?)
        .await?;
    let items = p
        .items
        .iter()
        .map(|(_, d)| serde_json::from_str(d).map_err(ApiError::internal))
        .collect::<Result<_, _>>()?;
    Ok(Json(Paged {
        items,
        next_cursor: p.next_cursor,
    }))
}

/// One rollout with its history.
#[utoipa::path(get, path = "/v1/rollouts/{id}", tag = "rollouts", operation_id = "get_rollout",
    params(("id" = String, Path, description = "Rollout id")),
    responses((status = 200, body = Object), (status = 404, body = Problem)), security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<Rollout>, ApiError> {
    caller.fleet_admin()?;
    Ok(Json(load(&st, &id).await?.1))
}

/// Moves the rollout to a later stage.
#[utoipa::path(post, path = "/v1/rollouts/{id}/advance", tag = "rollouts", request_body = Advance,
    params(("id" = String, Path, description = "Rollout id")),
    responses((status = 200, body = Object), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn advance(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<Advance>,
) -> Result<Json<Rollout>, ApiError> {
    caller.fleet_admin()?;
    let by = caller.sub().to_owned();
    transition(
        &st,
        &id,
        "advance",
        caller.sub(),
        Cohort::After(body.on_incompatible),
        |r| r.advance(body.stage, now_ms(), by),
    )
    .await
}

/// Switches between enforcing and shadowing the new version.
#[utoipa::path(post, path = "/v1/rollouts/{id}/mode", tag = "rollouts", request_body = SetMode,
    params(("id" = String, Path, description = "Rollout id")),
    responses((status = 200, body = Object), (status = 409, body = Problem)), security(("bearer" = [])))]
pub async fn mode(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiJson(body): ApiJson<SetMode>,
) -> Result<Json<Rollout>, ApiError> {
    caller.fleet_admin()?;
    let by = caller.sub().to_owned();
    transition(
        &st,
        &id,
        "mode",
        caller.sub(),
        Cohort::After(body.on_incompatible),
        |r| r.set_mode(body.mode, now_ms(), by),
    )
    .await
}

macro_rules! simple_transition {
    ($name:ident, $path:literal, $method:ident, $cohort:expr, $doc:literal) => {
        #[doc = $doc]
        #[utoipa::path(post, path = $path, tag = "rollouts",
                    params(("id" = String, Path, description = "Rollout id")),
                    responses((status = 200, body = Object), (status = 409, body = Problem)),
                    security(("bearer" = [])))]
        pub async fn $name(
            State(st): State<AppState>,
            caller: Caller,
            Path(id): Path<String>,
        ) -> Result<Json<Rollout>, ApiError> {
            caller.fleet_admin()?;
            let by = caller.sub().to_owned();
            transition(&st, &id, stringify!($method), caller.sub(), $cohort, |r| {
                r.$method(now_ms(), by)
            })
            .await
        }
    };
}

simple_transition!(
    pause,
    "/v1/rollouts/{id}/pause",
    pause,
    Cohort::Unchecked,
    "Stops progress; the current cohort keeps its version."
);
simple_transition!(
    resume,
    "/v1/rollouts/{id}/resume",
    resume,
    Cohort::Unchecked,
    "Resumes a paused rollout."
);
simple_transition!(
    rollback,
    "/v1/rollouts/{id}/rollback",
    rollback,
    Cohort::Unchecked,
    "Every tenant goes back to the old version."
);
simple_transition!(
    complete,
    "/v1/rollouts/{id}/complete",
    complete,
    Cohort::Before,
    "At stage full: the new version becomes current."
);

/// `?tenant=T&limit=N&cursor=C`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ShadowParams {
    /// Only this tenant's differences.
    pub tenant: Option<String>,
    /// Items per page, 1..=500.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// The previous page's `next_cursor`.
    pub cursor: Option<String>,
}

/// One shadow difference.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShadowDiffView {
    /// Difference id.
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// The request's id.
    pub request_id: String,
    /// The enforced decision's id.
    pub decision_id: String,
    /// Enforced verdict.
    pub enforced: String,
    /// What the shadow version decided.
    pub shadow: String,
    /// The request and both decisions.
    #[schema(value_type = Object)]
    pub detail: Value,
    /// RFC 3339.
    pub at: String,
}

/// Shadow differences of a rollout, with their total count.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ShadowDiffs {
    /// All differences recorded (for the tenant filter, if any).
    pub total: i64,
    /// This page.
    pub items: Vec<ShadowDiffView>,
    /// Cursor of the next page.
    pub next_cursor: Option<String>,
}

/// Decisions where the shadow version disagreed with the enforced one.
#[utoipa::path(get, path = "/v1/rollouts/{id}/shadow", tag = "rollouts",
    params(("id" = String, Path, description = "Rollout id"), ShadowParams),
    responses((status = 200, body = ShadowDiffs)), security(("bearer" = [])))]
pub async fn shadow(
    State(st): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<ShadowParams>,
) -> Result<Json<ShadowDiffs>, ApiError> {
    caller.fleet_admin()?;
    load(&st, &id).await?;
    let limit = PageParams {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    let (page, total) = st
        .store()
        .shadow_diffs(&id, q.tenant.as_deref(), q.cursor.as_deref(), limit)
        .await?;
    let items = page
        .items
        .into_iter()
        .map(|d| ShadowDiffView {
            detail: serde_json::from_str(&d.detail).unwrap_or(Value::Null),
            at: super::rfc3339(d.at_ms),
            id: d.id,
            tenant: d.tenant,
            request_id: d.request_id,
            decision_id: d.decision_id,
            enforced: d.enforced,
            shadow: d.shadow,
        })
        .collect();
    Ok(Json(ShadowDiffs {
        total,
        items,
        next_cursor: page.next_cursor,
    }))
}
