//! Tenants: create, read, update (including disable), list, public key.

use super::{Paged, rfc3339};
use crate::auth::Role;
use crate::compositions::resolve::CompositionDoc;
use crate::http::extract::{ApiJson, ApiQuery, Caller, PageParams};
use crate::http::problem::{ApiError, Kind};
use crate::keys;
use crate::state::AppState;
use crate::tenants::settings::TenantSettings;
use crate::trace_log::events::audit;
use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warden_store::{Audit, TenantRow, now_ms};

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

/// Whether `id` is a valid tenant id.
pub fn valid_tenant_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
}

/// Longest display name, in characters.
pub const MAX_DISPLAY_NAME_CHARS: usize = 256;

/// A display name: 1 to 256 characters, no control characters (NUL included).
fn check_display_name(name: &str) -> Result<(), ApiError> {
    let problem = if name.is_empty() || name.chars().count() > MAX_DISPLAY_NAME_CHARS {
        Some(format!(
            "must be 1 to {MAX_DISPLAY_NAME_CHARS} characters long"
        ))
    } else if name.chars().any(char::is_control) {
        Some("must not contain control characters (NUL, line breaks)".to_owned())
    } else {
        None
    };
    match problem {
        Some(p) => Err(
            ApiError::new(Kind::Unprocessable, format!("`display_name` {p}"))
                .with(serde_json::json!({"field": "display_name"})),
        ),
        None => Ok(()),
    }
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
    let row = new_tenant_row(&st, &body.id, body.display_name.as_deref(), &body.settings)?;
    let event = created_event(&row, caller.sub(), &body.settings)?;
    if !st.store().create_tenant(&row, &event).await? {
        return Err(ApiError::new(
            Kind::Conflict,
            format!("tenant `{}` already exists", body.id),
        ));
    }
    st.refresh().await?;
    Ok((StatusCode::CREATED, Json(view(&row)?)))
}

/// The `tenant-created` event of a new tenant's row, for its own log.
pub fn created_event(
    row: &TenantRow,
    actor: &str,
    settings: &TenantSettings,
) -> Result<Audit, ApiError> {
    Ok(audit(
        &row.id,
        "tenant-created",
        actor,
        serde_json::json!({"display_name": row.display_name, "settings": settings}),
    )?)
}

/// A new tenant's row: validated id, fresh key pair sealed with the master key.
pub fn new_tenant_row(
    st: &AppState,
    id: &str,
    display_name: Option<&str>,
    settings: &TenantSettings,
) -> Result<TenantRow, ApiError> {
    if !valid_tenant_id(id) {
        return Err(ApiError::new(
            Kind::Unprocessable,
            format!(
                "tenant id `{id}` is invalid: use 1 to 63 lowercase letters, digits and `-`, starting with a letter or digit"
            ),
        ));
    }
    if let Some(name) = display_name {
        check_display_name(name)?;
    }
    settings.validate()?;
    let key = keys::generate_signing_key().map_err(ApiError::internal)?;
    let secret = st
        .master_key()
        .seal(id, key.as_bytes())
        .map_err(ApiError::internal)?;
    let now = now_ms();
    Ok(TenantRow {
        id: id.to_owned(),
        display_name: display_name.unwrap_or(id).to_owned(),
        disabled: false,
        public_key: key.verifying_key().to_bytes().to_vec(),
        secret_key: secret,
        settings: serde_json::to_string(settings).map_err(ApiError::internal)?,
        composition: serde_json::to_string(&CompositionDoc::default())
            .map_err(ApiError::internal)?,
        composition_version: 0,
        created_ms: now,
        updated_ms: now,
    })
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
    if let Some(name) = &body.display_name {
        check_display_name(name)?;
    }
    if let Some(s) = &body.settings {
        s.validate()?;
    }
    let settings = body
        .settings
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(ApiError::internal)?;
    let event = audit(
        &tenant,
        "tenant-updated",
        caller.sub(),
        serde_json::json!({"display_name": body.display_name, "disabled": body.disabled,
                           "settings": body.settings}),
    )?;
    let t = st
        .store()
        .update_tenant(
            &tenant,
            body.display_name.as_deref(),
            body.disabled,
            settings.as_deref(),
            &event,
        )
        .await?
        .ok_or_else(|| ApiError::not_found("tenant", &tenant))?;
    st.refresh().await?;
    Ok(Json(view(&t)?))
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
