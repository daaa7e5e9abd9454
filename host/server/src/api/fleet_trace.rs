//! The fleet log over HTTP (`/v1/fleet/trace/...`): its events, signed
//! checkpoints (latest, on demand), verification and the fleet public key.
//! Fleet admins, and tokens for tenant `*` with the auditor role (the
//! operator role may also make a checkpoint), as for a tenant's log.

use super::Paged;
use super::tenants::PublicKeyView;
use super::trace::{latest_checkpoint, verify_log};
use super::trace_query::{EventView, EventsQuery, page};
use crate::auth::Role;
use crate::http::extract::{ApiQuery, Caller};
use crate::http::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::trace::{Report, SignedCheckpoint};
use crate::trace_log::checkpointer;
use crate::trace_log::events::FLEET_LOG;
use crate::trace_log::fleet_log;
use axum::Json;
use axum::extract::State;

/// Events of the fleet log (pack uploads, the fleet layer, rollout steps,
/// integrity alarms) that match every filter given, in sequence order.
#[utoipa::path(get, path = "/v1/fleet/trace/events", tag = "trace",
    params(EventsQuery),
    responses((status = 200, body = Paged<EventView>),
        (status = 422, body = Problem, description = "a bad filter value; `parameter` names it")),
    security(("bearer" = [])))]
pub async fn fleet_events(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Paged<EventView>>, ApiError> {
    caller.fleet(&[Role::Auditor])?;
    let (filter, limit, after) = (q.filter()?, q.limit()?, q.after()?);
    page(&st, FLEET_LOG, &filter, limit, after).await.map(Json)
}

/// The fleet log's latest signed checkpoint.
#[utoipa::path(get, path = "/v1/fleet/trace/checkpoint", tag = "trace",
    responses((status = 200, body = Object, description = "`{checkpoint: {tenant: \"_fleet\", seq, head, at_ms}, signature}`"),
        (status = 404, body = Problem, description = "no checkpoint yet")),
    security(("bearer" = [])))]
pub async fn get_fleet_checkpoint(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<SignedCheckpoint>, ApiError> {
    caller.fleet(&[Role::Auditor, Role::Operator])?;
    latest_checkpoint(&st, "checkpoint of log", FLEET_LOG)
        .await
        .map(Json)
}

/// Signs the fleet log's current head now with the fleet key (unless the
/// latest checkpoint covers it; only verified history is signed) and
/// publishes it to the fleet's anchors.
#[utoipa::path(post, path = "/v1/fleet/trace/checkpoint", tag = "trace",
    responses((status = 200, body = Object, description = "the checkpoint covering the current head"),
        (status = 404, body = Problem, description = "no events yet")),
    security(("bearer" = [])))]
pub async fn make_fleet_checkpoint(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<SignedCheckpoint>, ApiError> {
    caller.fleet(&[Role::Auditor, Role::Operator])?;
    Ok(Json(checkpointer::checkpoint_now(&st, FLEET_LOG).await?))
}

/// Verifies the fleet log end to end, against its head row, every stored
/// checkpoint and every checkpoint in the fleet's file anchors.
#[utoipa::path(get, path = "/v1/fleet/trace/verify", tag = "trace",
    responses((status = 200, body = Object, description = "`{events, last_seq, head, fault, pruned}`")),
    security(("bearer" = [])))]
pub async fn verify_fleet(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<Report>, ApiError> {
    caller.fleet(&[Role::Auditor])?;
    let key = fleet_log::verifying_key(&st).await?;
    verify_log(&st, FLEET_LOG, &st.fleet_trace().anchors, &key)
        .await
        .map(Json)
}

/// The fleet key's Ed25519 public key (verifies the fleet log's checkpoints).
#[utoipa::path(get, path = "/v1/fleet/public-key", tag = "trace",
    responses((status = 200, body = PublicKeyView)), security(("bearer" = [])))]
pub async fn fleet_public_key(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<PublicKeyView>, ApiError> {
    caller.fleet(&[Role::Auditor, Role::Operator])?;
    PublicKeyView::of(&fleet_log::verifying_key(&st).await?).map(Json)
}
