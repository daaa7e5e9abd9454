//! A tenant's composition (edited as a whole document with a version) and
//! the fleet layer.

use crate::auth::Role;
use crate::compositions::resolve::{CompositionDoc, Served};
use crate::http::extract::{ApiJson, Caller};
use crate::http::problem::{ApiError, Kind};
use crate::state::AppState;
use crate::trace_log::events::{FLEET_LOG, audit};
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::json;
use utoipa::ToSchema;
use warden_host::Layer;
use warden_store::{Audit, Saved, StoreError};

/// A composition with its version and, when read, the versions serving it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionedComposition {
    /// On `PUT`: the version the edit is based on (0 for the first save).
    /// In responses: the stored version.
    pub version: i64,
    /// The document.
    #[serde(deserialize_with = "warden_host::json_object::object")]
    pub composition: CompositionDoc,
    /// Which version of each pack serves the tenant now, and why (responses only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub serving: Vec<Served>,
    /// Responses only: why the current configuration cannot be built, when
    /// the tenant is served its last good composition instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serving_error: Option<String>,
}

/// Reads the tenant's composition and what serves it.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/composition", tag = "compositions", operation_id = "get_composition",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = VersionedComposition)), security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<VersionedComposition>, ApiError> {
    caller.tenant(&tenant, &[Role::Operator, Role::Auditor])?;
    let t = st.tenant_row(&tenant).await?;
    let composition = CompositionDoc::stored(&t)?;
    let (serving, serving_error) = match st.runtime(&tenant).await {
        Ok(rt) => (rt.serving.as_ref().clone(), rt.degraded.clone()),
        Err(e) => (Vec::new(), Some(ApiError::from(e).detail)),
    };
    Ok(Json(VersionedComposition {
        version: t.composition_version,
        composition,
        serving,
        serving_error,
    }))
}

/// The `composition-changed` event of `tenant`'s composition becoming
/// `doc` at `version` (every writer records it in this one shape).
pub fn changed_event(
    tenant: &str,
    actor: &str,
    version: i64,
    doc: &CompositionDoc,
) -> Result<Audit, StoreError> {
    audit(
        tenant,
        "composition-changed",
        actor,
        json!({"version": version, "composition": doc}),
    )
}

/// Replaces the tenant's composition if `version` is current. Validated
/// first: packs resolve, rules exist, parameters fit, restrict-only layers
/// do not loosen.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/composition", tag = "compositions",
    request_body = VersionedComposition,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = VersionedComposition),
        (status = 409, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn put(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<VersionedComposition>,
) -> Result<Json<VersionedComposition>, ApiError> {
    caller.tenant(&tenant, &[Role::Operator])?;
    st.tenant_row(&tenant).await?;
    let serving = st.build(&tenant, &body.composition).await?.serving;
    let text = serde_json::to_string(&body.composition).map_err(ApiError::internal)?;
    let event = changed_event(
        &tenant,
        caller.sub(),
        body.version.saturating_add(1),
        &body.composition,
    )?;
    match st
        .store()
        .save_composition(&tenant, body.version, &text, &event)
        .await?
    {
        Saved::Ok(v) => {
            st.refresh().await?;
            Ok(Json(VersionedComposition {
                version: v,
                composition: body.composition,
                serving,
                serving_error: None,
            }))
        }
        Saved::Stale(current) => Err(ApiError::new(
            Kind::VersionConflict,
            format!(
                "composition of tenant `{tenant}` is at version {current}, not {}; re-read it and apply your change again",
                body.version
            ),
        )
        .with(json!({"current_version": current}))),
        Saved::NotFound => Err(ApiError::not_found("tenant", &tenant)),
    }
}

/// The fleet layer with its version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionedLayer {
    /// On `PUT`: the version the edit is based on. In responses: the stored version.
    pub version: i64,
    /// The layer (its name is always `fleet`).
    #[schema(value_type = super::schemas::FleetLayer)]
    #[serde(deserialize_with = "fleet_layer")]
    pub layer: Layer,
}

/// The fleet layer of a `PUT`: a layer object whose `name` may be left out
/// (it is `fleet` whatever is given).
fn fleet_layer<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Layer, D::Error> {
    let mut map = serde_json::Map::deserialize(d)?;
    map.entry("name")
        .or_insert_with(|| json!(warden_host::FLEET_LAYER));
    Layer::deserialize(serde_json::Value::Object(map)).map_err(serde::de::Error::custom)
}

/// Reads the fleet layer (applies to every tenant that uses its packs).
#[utoipa::path(get, path = "/v1/fleet/layer", tag = "compositions",
    responses((status = 200, body = VersionedLayer)), security(("bearer" = [])))]
pub async fn get_fleet_layer(
    State(st): State<AppState>,
    caller: Caller,
) -> Result<Json<VersionedLayer>, ApiError> {
    caller.any()?;
    let (layer, version) = st.store().fleet_layer().await?;
    Ok(Json(VersionedLayer { version, layer }))
}

/// Replaces the fleet layer (fleet admins). Each pack it configures must be
/// in the fleet catalog, and the layer must validate against the pack's
/// current version: rules exist, parameters fit, restrict-only holds.
#[utoipa::path(put, path = "/v1/fleet/layer", tag = "compositions", request_body = VersionedLayer,
    responses((status = 200, body = VersionedLayer),
        (status = 409, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn put_fleet_layer(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(mut body): ApiJson<VersionedLayer>,
) -> Result<Json<VersionedLayer>, ApiError> {
    caller.fleet_admin()?;
    body.layer.name = warden_host::FLEET_LAYER.to_owned();
    for (pack, rules) in &body.layer.packs {
        let Some(cur) = st.store().current_version(pack).await? else {
            return Err(ApiError::new(
                Kind::InvalidComposition,
                format!(
                    "layer `fleet` configures pack `{pack}`, which is not in the fleet catalog"
                ),
            ));
        };
        let row = st
            .store()
            .pack(crate::FLEET, pack, &cur)
            .await?
            .ok_or_else(|| ApiError::internal("current pack version row is missing"))?;
        let loaded = st.pack(&row.digest).await?;
        let single = Layer {
            name: warden_host::FLEET_LAYER.to_owned(),
            restrict_only: body.layer.restrict_only,
            packs: [(pack.clone(), rules.clone())].into_iter().collect(),
        };
        let spec = warden_host::CompositionSpec {
            layers: vec![single],
            ..Default::default()
        };
        warden_host::Composition::build_async(warden_host::FLEET_LAYER, vec![loaded], spec)
            .await
            .map_err(|e| match e {
                warden_host::ComposeError::Interrupted(_) => ApiError::internal(e),
                e => ApiError::new(Kind::InvalidComposition, e.to_string()),
            })?;
    }
    let event = audit(
        FLEET_LOG,
        "fleet-layer-changed",
        caller.sub(),
        json!({"version": body.version.saturating_add(1), "layer": body.layer}),
    )?;
    match st
        .store()
        .save_fleet_layer(body.version, &body.layer, &event)
        .await?
    {
        Ok(v) => {
            st.refresh().await?;
            Ok(Json(VersionedLayer {
                version: v,
                layer: body.layer,
            }))
        }
        Err(current) => Err(ApiError::new(
            Kind::VersionConflict,
            format!(
                "fleet layer is at version {current}, not {}; re-read it and apply your change again",
                body.version
            ),
        )
        .with(json!({"current_version": current}))),
    }
}
