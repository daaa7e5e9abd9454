//! The pack catalog: upload (validated, content-addressed, optionally
//! signed), list, metadata, download and diff; fleet-wide and tenant-private.

use super::{Paged, rfc3339};
use crate::auth::Role;
use crate::catalog::upload::{Uploaded, upload};
use crate::http::extract::{ApiQuery, Caller, PageParams, body_error};
use crate::http::problem::{ApiError, Kind};
use crate::state::AppState;
use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequest, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use warden_host::RuleInfo;
use warden_host::diff::PackDiff;
use warden_store::{PackRow, PackScope};

/// The header carrying a detached pack signature: base64 Ed25519 over
/// `warden-pack-signature-v2\n{digest}\n` (what `warden pack sign` makes;
/// checked before the pack is compiled), or, where signatures are
/// optional, the older `warden-pack-signature-v1\n{name}@{version}\n{digest}\n`.
pub const SIGNATURE_HEADER: &str = "warden-signature";

/// One pack version's metadata.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PackVersionView {
    /// Pack name.
    pub name: String,
    /// Version.
    pub version: String,
    /// `fleet`, or `tenant` for a tenant-private pack.
    pub scope: String,
    /// `sha256:...` of the bytes.
    pub digest: String,
    /// Size in bytes.
    pub size: i64,
    /// One-line description.
    pub summary: String,
    /// The rules.
    #[schema(value_type = Vec<Object>)]
    pub rules: Vec<RuleInfo>,
    /// The trusted publisher whose signature verified, if signed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub publisher: Option<String>,
    /// RFC 3339.
    pub uploaded_at: String,
    /// Token subject of the uploader.
    pub uploaded_by: String,
}

/// A pack and its versions, newest first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PackView {
    /// Pack name.
    pub name: String,
    /// For fleet packs: the version serving tenants outside rollouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    /// Versions, newest first.
    pub versions: Vec<PackVersionView>,
}

fn version_view(row: &PackRow) -> PackVersionView {
    PackVersionView {
        name: row.name.clone(),
        version: row.version.clone(),
        scope: if row.scope == crate::FLEET {
            "fleet"
        } else {
            "tenant"
        }
        .to_owned(),
        digest: row.digest.clone(),
        size: row.size,
        summary: row.info.summary.clone(),
        rules: row.info.rules.clone(),
        publisher: row.publisher.clone(),
        uploaded_at: rfc3339(row.uploaded_ms),
        uploaded_by: row.uploaded_by.clone(),
    }
}

async fn pack_view(st: &AppState, scope: &PackScope, name: &str) -> Result<PackView, ApiError> {
    let rows: Vec<PackRow> = crate::compositions::resolve::versions(st.store(), scope.key(), name)
        .await?
        .into_iter()
        .map(|(_, row)| row)
        .collect();
    if rows.is_empty() {
        return Err(ApiError::not_found("pack", name));
    }
    let current = match scope {
        PackScope::Fleet => st.store().current_version(name).await?,
        PackScope::Tenant(_) => None,
    };
    Ok(PackView {
        name: name.to_owned(),
        current,
        versions: rows.iter().map(version_view).collect(),
    })
}

/// The response to an upload: 201 with the new version, or 200 with the
/// version that already held these bytes.
fn uploaded(u: Uploaded) -> (StatusCode, Json<PackVersionView>) {
    match u {
        Uploaded::Created(row) => (StatusCode::CREATED, Json(version_view(&row))),
        Uploaded::Unchanged(row) => (StatusCode::OK, Json(version_view(&row))),
    }
}

async fn read_wasm(req: Request, st: &AppState) -> Result<(Bytes, Option<String>), ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case("application/wasm")
    {
        return Err(ApiError::new(
            Kind::UnsupportedMediaType,
            "expected `Content-Type: application/wasm`",
        ));
    }
    let sig = req
        .headers()
        .get(SIGNATURE_HEADER)
        .map(|v| {
            v.to_str().map(str::to_owned).map_err(|_| {
                ApiError::new(
                    Kind::SignatureRejected,
                    format!("`{SIGNATURE_HEADER}` header is not ASCII"),
                )
            })
        })
        .transpose()?;
    let bytes = Bytes::from_request(req, st).await.map_err(body_error)?;
    Ok((bytes, sig))
}

/// Uploads a fleet-wide pack (fleet admins). Body: the component
/// (`application/wasm`); optional `Warden-Signature` header.
#[utoipa::path(post, path = "/v1/packs", tag = "packs",
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = PackVersionView, description = "stored"),
        (status = 200, body = PackVersionView, description = "same bytes already stored"),
        (status = 409, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn upload_fleet(
    State(st): State<AppState>,
    caller: Caller,
    req: Request,
) -> Result<(StatusCode, Json<PackVersionView>), ApiError> {
    caller.fleet_admin()?;
    let (bytes, sig) = read_wasm(req, &st).await?;
    let up = upload(
        &st,
        PackScope::Fleet,
        caller.sub(),
        bytes,
        sig.as_deref(),
        false,
    );
    Ok(uploaded(up.await?))
}

/// Uploads a pack private to the tenant (its operators).
#[utoipa::path(post, path = "/v1/tenants/{tenant}/packs", tag = "packs",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body(content = Vec<u8>, content_type = "application/wasm"),
    responses((status = 201, body = PackVersionView), (status = 200, body = PackVersionView),
        (status = 409, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn upload_private(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    req: Request,
) -> Result<(StatusCode, Json<PackVersionView>), ApiError> {
    caller.tenant(&tenant, &[Role::Operator])?;
    st.tenant_row(&tenant).await?;
    let (bytes, sig) = read_wasm(req, &st).await?;
    let up = upload(
        &st,
        PackScope::Tenant(tenant),
        caller.sub(),
        bytes,
        sig.as_deref(),
        false,
    );
    Ok(uploaded(up.await?))
}

async fn list_in(
    st: &AppState,
    scope: PackScope,
    page: PageParams,
) -> Result<Json<Paged<PackView>>, ApiError> {
    let names = st
        .store()
        .pack_names(scope.key(), page.cursor.as_deref(), page.limit()?)
        .await?;
    let mut items = Vec::with_capacity(names.items.len());
    for n in &names.items {
        items.push(pack_view(st, &scope, n).await?);
    }
    Ok(Json(Paged {
        items,
        next_cursor: names.next_cursor,
    }))
}

/// Lists fleet packs and their versions (any token).
#[utoipa::path(get, path = "/v1/packs", tag = "packs", params(PageParams),
    responses((status = 200, body = Paged<PackView>)), security(("bearer" = [])))]
pub async fn list_fleet(
    State(st): State<AppState>,
    caller: Caller,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Paged<PackView>>, ApiError> {
    caller.any()?;
    list_in(&st, PackScope::Fleet, page).await
}

/// Lists the tenant's private packs.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/packs", tag = "packs",
    params(("tenant" = String, Path, description = "Tenant id"), PageParams),
    responses((status = 200, body = Paged<PackView>)), security(("bearer" = [])))]
pub async fn list_private(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiQuery(page): ApiQuery<PageParams>,
) -> Result<Json<Paged<PackView>>, ApiError> {
    caller.tenant(&tenant, &[Role::Operator, Role::Auditor])?;
    st.tenant_row(&tenant).await?;
    list_in(&st, PackScope::Tenant(tenant), page).await
}

/// A fleet pack and its versions.
#[utoipa::path(get, path = "/v1/packs/{name}", tag = "packs",
    params(("name" = String, Path, description = "Pack name")),
    responses((status = 200, body = PackView), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn get_fleet(
    State(st): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> Result<Json<PackView>, ApiError> {
    caller.any()?;
    Ok(Json(pack_view(&st, &PackScope::Fleet, &name).await?))
}

/// A private pack and its versions.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/packs/{name}", tag = "packs",
    params(("tenant" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Pack name")),
    responses((status = 200, body = PackView), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn get_private(
    State(st): State<AppState>,
    caller: Caller,
    Path((tenant, name)): Path<(String, String)>,
) -> Result<Json<PackView>, ApiError> {
    caller.tenant(&tenant, &[Role::Operator, Role::Auditor])?;
    st.tenant_row(&tenant).await?;
    Ok(Json(
        pack_view(&st, &PackScope::Tenant(tenant), &name).await?,
    ))
}

async fn row_of(
    st: &AppState,
    scope: &PackScope,
    name: &str,
    version: &str,
) -> Result<PackRow, ApiError> {
    st.store()
        .pack(scope.key(), name, version)
        .await?
        .ok_or_else(|| ApiError::not_found("pack version", &format!("{name}@{version}")))
}

/// A fleet pack version's metadata.
#[utoipa::path(get, path = "/v1/packs/{name}/versions/{version}", tag = "packs",
    params(("name" = String, Path, description = "Pack name"), ("version" = String, Path, description = "Version")),
    responses((status = 200, body = PackVersionView), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn version_fleet(
    State(st): State<AppState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Json<PackVersionView>, ApiError> {
    caller.any()?;
    Ok(Json(version_view(
        &row_of(&st, &PackScope::Fleet, &name, &version).await?,
    )))
}

/// A private pack version's metadata.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/packs/{name}/versions/{version}", tag = "packs",
    params(("tenant" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Pack name"),
        ("version" = String, Path, description = "Version")),
    responses((status = 200, body = PackVersionView), (status = 404, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn version_private(
    State(st): State<AppState>,
    caller: Caller,
    Path((tenant, name, version)): Path<(String, String, String)>,
) -> Result<Json<PackVersionView>, ApiError> {
    caller.tenant(&tenant, &[Role::Operator, Role::Auditor])?;
    st.tenant_row(&tenant).await?;
    Ok(Json(version_view(
        &row_of(&st, &PackScope::Tenant(tenant), &name, &version).await?,
    )))
}

async fn wasm_of(st: &AppState, row: &PackRow) -> Result<Response, ApiError> {
    let bytes = st
        .store()
        .pack_bytes(&row.digest)
        .await?
        .ok_or_else(|| ApiError::internal("pack bytes are missing"))?;
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/wasm"),
    );
    if let Ok(v) = HeaderValue::from_str(&format!("\"{}\"", row.digest)) {
        h.insert(header::ETAG, v);
    }
    if let Some(sig) = row
        .signature
        .as_deref()
        .and_then(|s| HeaderValue::from_str(s).ok())
    {
        h.insert(SIGNATURE_HEADER, sig);
    }
    Ok((h, bytes).into_response())
}

/// Downloads a fleet pack version's bytes.
#[utoipa::path(get, path = "/v1/packs/{name}/versions/{version}/wasm", tag = "packs",
    params(("name" = String, Path, description = "Pack name"), ("version" = String, Path, description = "Version")),
    responses((status = 200, content_type = "application/wasm", body = Vec<u8>)), security(("bearer" = [])))]
pub async fn wasm_fleet(
    State(st): State<AppState>,
    caller: Caller,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    caller.any()?;
    wasm_of(&st, &row_of(&st, &PackScope::Fleet, &name, &version).await?).await
}

/// Downloads a private pack version's bytes.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/packs/{name}/versions/{version}/wasm", tag = "packs",
    params(("tenant" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Pack name"),
        ("version" = String, Path, description = "Version")),
    responses((status = 200, content_type = "application/wasm", body = Vec<u8>)), security(("bearer" = [])))]
pub async fn wasm_private(
    State(st): State<AppState>,
    caller: Caller,
    Path((tenant, name, version)): Path<(String, String, String)>,
) -> Result<Response, ApiError> {
    caller.tenant(&tenant, &[Role::Operator, Role::Auditor])?;
    st.tenant_row(&tenant).await?;
    wasm_of(
        &st,
        &row_of(&st, &PackScope::Tenant(tenant), &name, &version).await?,
    )
    .await
}

/// `?from=A&to=B`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DiffParams {
    /// The older version.
    pub from: String,
    /// The newer version.
    pub to: String,
}

async fn diff_in(
    st: &AppState,
    scope: PackScope,
    name: &str,
    p: &DiffParams,
) -> Result<Json<PackDiff>, ApiError> {
    let a = row_of(st, &scope, name, &p.from).await?;
    let b = row_of(st, &scope, name, &p.to).await?;
    let size = |r: &PackRow| usize::try_from(r.size).unwrap_or(0);
    Ok(Json(warden_host::diff::diff(
        &a.info,
        &a.digest,
        size(&a),
        &b.info,
        &b.digest,
        size(&b),
    )))
}

/// Rules added, removed and changed between two fleet pack versions.
#[utoipa::path(get, path = "/v1/packs/{name}/diff", tag = "packs",
    params(("name" = String, Path, description = "Pack name"), DiffParams),
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn diff_fleet(
    State(st): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
    ApiQuery(p): ApiQuery<DiffParams>,
) -> Result<Json<PackDiff>, ApiError> {
    caller.any()?;
    diff_in(&st, PackScope::Fleet, &name, &p).await
}

/// Rules added, removed and changed between two private pack versions.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/packs/{name}/diff", tag = "packs",
    params(("tenant" = String, Path, description = "Tenant id"), ("name" = String, Path, description = "Pack name"), DiffParams),
    responses((status = 200, body = Object)), security(("bearer" = [])))]
pub async fn diff_private(
    State(st): State<AppState>,
    caller: Caller,
    Path((tenant, name)): Path<(String, String)>,
    ApiQuery(p): ApiQuery<DiffParams>,
) -> Result<Json<PackDiff>, ApiError> {
    caller.tenant(&tenant, &[Role::Operator, Role::Auditor])?;
    st.tenant_row(&tenant).await?;
    diff_in(&st, PackScope::Tenant(tenant), &name, &p).await
}
