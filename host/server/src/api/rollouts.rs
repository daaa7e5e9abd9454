//! Staged rollouts of fleet packs, and the shadow-mode differences.

use super::Paged;
use crate::http::extract::{ApiJson, ApiQuery, Caller, PageParams};
use crate::http::problem::{ApiError, Problem};
use crate::rollouts::steps::{self, Cohort, OnIncompatible, Start};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use warden_host::rollout::{Mode, Rollout, Stage};
use warden_store::now_ms;

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
    let start = Start {
        pack: body.pack,
        to: body.to,
        stage: body.stage,
        mode: body.mode,
        on_incompatible: body.on_incompatible,
    };
    let r = steps::start(&st, start, caller.sub()).await?;
    Ok((StatusCode::CREATED, Json(r)))
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
    Ok(Json(Paged {
        items: p.items,
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
    Ok(Json(steps::get(&st, &id).await?))
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
    let step = steps::step(
        &st,
        &id,
        "advance",
        caller.sub(),
        Cohort::After(body.on_incompatible),
        |r| r.advance(body.stage, now_ms(), by),
    );
    Ok(Json(step.await?))
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
    let step = steps::step(
        &st,
        &id,
        "mode",
        caller.sub(),
        Cohort::After(body.on_incompatible),
        |r| r.set_mode(body.mode, now_ms(), by),
    );
    Ok(Json(step.await?))
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
            let step = steps::step(&st, &id, stringify!($method), caller.sub(), $cohort, |r| {
                r.$method(now_ms(), by)
            });
            Ok(Json(step.await?))
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
    steps::get(&st, &id).await?;
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
