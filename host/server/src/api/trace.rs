//! The trace log over HTTP: signed checkpoints (latest, on demand),
//! verification of the stored chain, and pruning under retention.

use crate::auth::Role;
use crate::http::extract::Caller;
use crate::http::problem::{ApiError, Problem};
use crate::state::AppState;
use crate::tenants::settings::TenantSettings;
use crate::trace::{Report, SignedCheckpoint};
use crate::trace_log::settings::Anchor;
use crate::trace_log::{anchors, checkpointer, pruner};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The tenant's latest signed checkpoint (auditors, operators).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/trace/checkpoint", tag = "trace",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Object, description = "`{checkpoint: {tenant, seq, head, at_ms}, signature}`"),
        (status = 404, body = Problem, description = "no checkpoint yet")),
    security(("bearer" = [])))]
pub async fn get_checkpoint(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<SignedCheckpoint>, ApiError> {
    caller.tenant(&tenant, &[Role::Auditor, Role::Operator])?;
    st.tenant_row(&tenant).await?;
    latest_checkpoint(&st, "checkpoint of tenant", &tenant)
        .await
        .map(Json)
}

/// The latest checkpoint of `log` (a tenant's, or the fleet log), or a
/// 404 saying `what` was not found.
pub(crate) async fn latest_checkpoint(
    st: &AppState,
    what: &str,
    log: &str,
) -> Result<SignedCheckpoint, ApiError> {
    st.store()
        .trace_checkpoint_latest(log)
        .await?
        .ok_or_else(|| ApiError::not_found(what, log))
}

/// Signs the log's current head now (unless the latest checkpoint covers
/// it) and publishes it to the tenant's anchors.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/trace/checkpoint", tag = "trace",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Object, description = "the checkpoint covering the current head"),
        (status = 404, body = Problem, description = "no events yet")),
    security(("bearer" = [])))]
pub async fn make_checkpoint(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<SignedCheckpoint>, ApiError> {
    caller.tenant(&tenant, &[Role::Auditor, Role::Operator])?;
    Ok(Json(checkpointer::checkpoint_now(&st, &tenant).await?))
}

/// Verifies the tenant's stored chain end to end, against its head row,
/// every signed checkpoint stored for it and every checkpoint in its file
/// anchors; the report names the first bad sequence number, and what
/// retention pruned.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/trace/verify", tag = "trace",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = Object, description = "`{events, last_seq, head, fault, pruned}`")),
    security(("bearer" = [])))]
pub async fn verify(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<Report>, ApiError> {
    caller.tenant(&tenant, &[Role::Auditor])?;
    let row = st.tenant_row(&tenant).await?;
    let key = crate::keys::tenant_verifying_key(&row.public_key).map_err(ApiError::internal)?;
    let sinks = TenantSettings::stored(&row)?.trace_or_default().anchors;
    verify_log(&st, &tenant, &sinks, &key).await.map(Json)
}

/// Verifies `log` (a tenant's, or the fleet log) end to end against its
/// head row, every stored checkpoint and every checkpoint in its file
/// anchors among `sinks`, all signed by `key`.
pub(crate) async fn verify_log(
    st: &AppState,
    log: &str,
    sinks: &[Anchor],
    key: &ed25519_dalek::VerifyingKey,
) -> Result<Report, ApiError> {
    let mut anchored = Vec::new();
    for a in sinks {
        if let Anchor::File { path } = a {
            anchored.extend(
                anchors::read_file(st.anchor_dir(), path, log)
                    .await
                    .map_err(ApiError::internal)?,
            );
        }
    }
    Ok(st
        .store()
        .trace_verify_held(log, &anchored, Some(key))
        .await?)
}

/// What a pruning run did.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PruneView {
    /// Events whose content this run removed (0: nothing had expired).
    pub pruned: u64,
    /// Events pruned in this log so far.
    pub pruned_total: u64,
    /// The checkpointed bound of this run.
    pub through_seq: u64,
    /// The policy applied, e.g. `financial=2555d,read-only=90d`.
    pub policy: String,
    /// The pruning event's sequence number.
    pub seq: Option<u64>,
}

/// Prunes expired events now under the tenant's retention settings (up to
/// a checkpoint made first); every server also does this on a timer.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/trace/prune", tag = "trace",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = PruneView)),
    security(("bearer" = [])))]
pub async fn prune(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<PruneView>, ApiError> {
    caller.tenant(&tenant, &[Role::Operator])?;
    Ok(Json(match pruner::prune_now(&st, &tenant).await? {
        Some(out) => PruneView {
            pruned: out.record.pruned,
            pruned_total: out.record.pruned_total,
            through_seq: out.record.through_seq,
            policy: out.record.policy,
            seq: Some(out.seq),
        },
        None => PruneView {
            pruned: 0,
            pruned_total: 0,
            through_seq: 0,
            policy: String::new(),
            seq: None,
        },
    }))
}
