//! The fleet log over HTTP (`/v1/fleet/trace/...`): its events, signed
//! checkpoints (latest, on demand), verification and the fleet public key.
//! Fleet admins, and tokens for tenant `*` with the auditor role (the
//! operator role may also make a checkpoint), as for a tenant's log.

use super::Paged;
use super::tenants::PublicKeyView;
use super::trace_query::{EventView, EventsQuery, page};
use crate::server::anchors;
use crate::server::auth::Role;
use crate::server::checkpointer;
use crate::server::events::FLEET_LOG;
use crate::server::extract::{ApiQuery, Caller};
use crate::server::fleet_log;
use crate::server::keys;
use crate::server::problem::{ApiError, Problem};
use crate::server::state::AppState;
use crate::server::trace_settings::Anchor;
use crate::trace::{Report, SignedCheckpoint};
use axum::Json;
use axum::extract::State;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;

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
    st.store()
        .trace_checkpoint_latest(FLEET_LOG)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::not_found("checkpoint of log", FLEET_LOG))
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
    checkpointer::checkpoint_now(&st, FLEET_LOG).await.map(Json)
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
    let mut anchored = Vec::new();
    for a in &st.fleet_trace().anchors {
        if let Anchor::File { path } = a {
            anchored.extend(
                anchors::read_file(st.anchor_dir(), path, FLEET_LOG)
                    .await
                    .map_err(ApiError::internal)?,
            );
        }
    }
    Ok(Json(
        st.store()
            .trace_verify_held(FLEET_LOG, &anchored, Some(&key))
            .await?,
    ))
}

/// The fleet key's Ed25519 public key (verifies the fleet log's checkpoints).
#[utoipa::path(get, path = "/v1/fleet/public-key", tag = "trace",
    responses((status = 200, body = PublicKeyView)), security(("bearer" = [])))]
pub async fn fleet_public_key(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<PublicKeyView>, ApiError> {
    caller.fleet(&[Role::Auditor, Role::Operator])?;
    let vk = fleet_log::verifying_key(&st).await?;
    Ok(Json(PublicKeyView {
        algorithm: "Ed25519".to_owned(),
        public_key: B64.encode(vk.as_bytes()),
        pem: keys::verifying_key_pem(&vk).map_err(ApiError::internal)?,
    }))
}
