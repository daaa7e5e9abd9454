//! Tenants: create, read, update (including disable), list, public key.

use super::{Paged, rfc3339};
use crate::auth::Role;
use crate::http::extract::{ApiJson, ApiQuery, Caller, PageParams};
use crate::http::problem::ApiError;
use crate::keys;
use crate::state::AppState;
use crate::tenants::lifecycle::{self, Change};
use crate::tenants::settings::TenantSettings;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warden_store::TenantRow;

/// Body of `POST /v1/tenants`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTenant {
    /// Lowercase letters, digits and `-`, 1 to 63 characters, starting with a letter or digit.
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,62}$")]
    pub id: String,
    /// Display name (defaults to the id): 1 to 256 characters, no control characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub display_name: Option<String>,
    /// Settings.
    #[serde(default, deserialize_with = "warden_host::json_object::object")]
    pub settings: TenantSettings,
}

/// Body of `PATCH /v1/tenants/{tenant}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateTenant {
    /// New display name: 1 to 256 characters, no control characters.
    #[serde(default)]
    #[schema(
        min_length = 1,
        max_length = 256,
        pattern = "^[^\\u0000-\\u001F\\u007F-\\u009F]*$"
    )]
    pub display_name: Option<String>,
    /// Disable (no decisions) or enable the tenant.
    #[serde(default)]
    pub disabled: Option<bool>,
    /// Replaces the settings document.
    #[serde(default, deserialize_with = "warden_host::json_object::optional")]
    pub settings: Option<TenantSettings>,
}

/// A tenant as the API shows it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct TenantView {
    /// Tenant id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Disabled tenants get no decisions.
    pub disabled: bool,
    /// The tenant's Ed25519 public key (base64 of 32 bytes).
    pub public_key: String,
    /// The composition's version (0 before the first save).
    pub composition_version: i64,
    /// Settings.
    pub settings: TenantSettings,
    /// RFC 3339.
    pub created_at: String,
    /// RFC 3339.
    pub updated_at: String,
}

fn view(t: &TenantRow) -> Result<TenantView, ApiError> {
    Ok(TenantView {
        id: t.id.clone(),
        display_name: t.display_name.clone(),
        disabled: t.disabled,
        public_key: B64.encode(&t.public_key),
        composition_version: t.composition_version,
        settings: TenantSettings::stored(t)?,
        created_at: rfc3339(t.created_ms),
        updated_at: rfc3339(t.updated_ms),
    })
}

/// Creates a tenant with a fresh Ed25519 key pair and an empty composition.
#[utoipa::path(post, path = "/v1/tenants", tag = "tenants", request_body = CreateTenant,
    responses((status = 201, body = TenantView), (status = 409, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    caller: Caller,
    ApiJson(body): ApiJson<CreateTenant>,
) -> Result<(StatusCode, Json<TenantView>), ApiError> {
    caller.fleet_admin()?;
    let row = lifecycle::create(
        &st,
        &body.id,
        body.display_name.as_deref(),
        &body.settings,
        caller.sub(),
    );
    Ok((StatusCode::CREATED, Json(view(&row.await?)?)))
}

/// Lists tenants (fleet admins).
#[utoipa::path(get, path = "/v1/tenants", tag = "tenants", operation_id = "list_tenants", params(PageParams),
    responses((status = 200, body = Paged<TenantView>)), security(("bearer" = [])))]
pub async fn list(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Paged<TenantView>>, ApiError> {
    caller.fleet_admin()?;
    let p = st
        .store()
        .tenants(page.cursor.as_deref(), page.limit()?)
        .await?;
    Ok(Json(Paged {
        items: p.items.iter().map(view).collect::<Result<_, _>>()?,
        next_cursor: p.next_cursor,
    }))
}

/// Reads a tenant (its own token with any role, or a fleet admin).
#[utoipa::path(get, path = "/v1/tenants/{tenant}", tag = "tenants", operation_id = "get_tenant",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = TenantView), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<TenantView>, ApiError> {
    caller.tenant(
        &tenant,
        &[Role::Operator, Role::Auditor, Role::Runtime, Role::Approver],
    )?;
    let t = st.tenant_row(&tenant).await?;
    Ok(Json(view(&t)?))
}

/// Changes a tenant's name, settings, or disables/enables it (fleet admins).
#[utoipa::path(patch, path = "/v1/tenants/{tenant}", tag = "tenants", request_body = UpdateTenant,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = TenantView), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn update(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<UpdateTenant>,
) -> Result<Json<TenantView>, ApiError> {
    caller.fleet_admin()?;
    let change = Change {
        display_name: body.display_name,
        disabled: body.disabled,
        settings: body.settings,
    };
    let row = lifecycle::update(&st, &tenant, &change, caller.sub()).await?;
    Ok(Json(view(&row)?))
}

/// A tenant's public key.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PublicKeyView {
    /// Always `Ed25519`.
    pub algorithm: String,
    /// Base64 of the 32-byte key.
    pub public_key: String,
    /// SPKI PEM.
    pub pem: String,
}

impl PublicKeyView {
    /// The view of an Ed25519 public key (a tenant's, or the fleet key).
    pub fn of(key: &ed25519_dalek::VerifyingKey) -> Result<PublicKeyView, ApiError> {
        Ok(PublicKeyView {
            algorithm: "Ed25519".to_owned(),
            public_key: B64.encode(key.as_bytes()),
            pem: keys::verifying_key_pem(key).map_err(ApiError::internal)?,
        })
    }
}

/// The tenant's Ed25519 public key (verifies its signed checkpoints).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/public-key", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = PublicKeyView)), security(("bearer" = [])))]
pub async fn public_key(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<PublicKeyView>, ApiError> {
    caller.tenant(
        &tenant,
        &[Role::Operator, Role::Auditor, Role::Runtime, Role::Approver],
    )?;
    let t = st.tenant_row(&tenant).await?;
    let vk = keys::tenant_verifying_key(&t.public_key).map_err(ApiError::internal)?;
    PublicKeyView::of(&vk).map(Json)
}

/// The tenant's packs under quarantine, or with failures counted toward it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct QuarantineView {
    /// One per pack version whose breaker is open, probing, or counting failures.
    #[schema(value_type = Vec<Object>)]
    pub items: Vec<warden_host::BreakerStatus>,
}

/// The tenant's circuit breakers that are not plainly closed: which pack
/// versions are quarantined (no code runs; decisions fail closed) and
/// until when, and which are counting failures.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/quarantine", tag = "tenants",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = QuarantineView)), security(("bearer" = [])))]
pub async fn quarantine(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<QuarantineView>, ApiError> {
    caller.tenant(&tenant, &[Role::Operator, Role::Auditor, Role::Runtime])?;
    st.tenant_row(&tenant).await?;
    Ok(Json(QuarantineView {
        items: st.breakers().status(&tenant),
    }))
}
