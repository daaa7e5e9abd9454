//! The REST API: [`router`] builds the axum router and the OpenAPI document
//! from the same route list, so they cannot drift.

pub mod approvals;
pub mod compositions;
mod document;
pub mod evaluate;
pub mod fleet_trace;
pub mod packs;
pub mod replay;
pub mod rollouts;
pub(crate) mod schemas;
pub mod tenants;
pub mod trace;
pub mod trace_query;

use super::state::AppState;
use crate::http::problem::{ApiError, Kind};
use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::response::IntoResponse;
use serde::{Deserialize, Serialize};
use std::time::{Duration, UNIX_EPOCH};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// Largest JSON body accepted (batches included).
pub const JSON_BODY_LIMIT: usize = 4 * 1024 * 1024;

/// A page of a list.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Paged<T> {
    /// The items.
    pub items: Vec<T>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

/// Unix milliseconds as RFC 3339.
pub fn rfc3339(ms: i64) -> String {
    let t = UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "warden control plane", description = "Tenants, pack catalog, rollouts, decisions and approvals."),
    modifiers(&BearerAuth),
    components(schemas(crate::http::problem::Problem))
)]
struct ApiDoc;

/// Health: the process is up.
#[utoipa::path(get, path = "/healthz", tag = "health", responses((status = 200, body = Object)))]
pub async fn healthz() -> impl IntoResponse {
    Json(serde_json::json!({"status": "ok"}))
}

/// Readiness: the database answers. The body also carries counters for
/// monitoring: `checkpoints_refused`, checkpoints not signed because the
/// history under them did not verify (an alarm: see `trace-verification-failed`
/// events in the fleet log).
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses((status = 200, body = Object), (status = 503, body = crate::http::problem::Problem)))]
pub async fn readyz(State(st): State<AppState>) -> Result<Json<serde_json::Value>, ApiError> {
    st.store()
        .ping()
        .await
        .map_err(|_| ApiError::new(Kind::Unavailable, "the database is not reachable"))?;
    Ok(Json(serde_json::json!({
        "status": "ready",
        "checkpoints_refused": st.alarms().refused(),
    })))
}

fn api() -> OpenApiRouter<AppState> {
    let wasm_limit =
        DefaultBodyLimit::max(warden_host::EngineConfig::default().max_pack_size + 1024);
    let uploads = OpenApiRouter::new()
        .routes(routes!(packs::upload_fleet, packs::list_fleet))
        .routes(routes!(packs::upload_private, packs::list_private))
        .layer(wasm_limit);
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(tenants::create, tenants::list))
        .routes(routes!(tenants::get, tenants::update))
        .routes(routes!(tenants::public_key))
        .routes(routes!(tenants::quarantine))
        .routes(routes!(compositions::get, compositions::put))
        .routes(routes!(
            compositions::get_fleet_layer,
            compositions::put_fleet_layer
        ))
        .routes(routes!(approvals::get_policy, approvals::put_policy))
        .routes(routes!(approvals::webhook_secret))
        .routes(routes!(approvals::inbox))
        .routes(routes!(approvals::get))
        .routes(routes!(approvals::wait))
        .routes(routes!(approvals::vote))
        .routes(routes!(approvals::redeem))
        .routes(routes!(evaluate::evaluate))
        .routes(routes!(evaluate::batch))
        .merge(uploads)
        .routes(routes!(packs::get_fleet))
        .routes(routes!(packs::get_private))
        .routes(routes!(packs::version_fleet))
        .routes(routes!(packs::version_private))
        .routes(routes!(packs::wasm_fleet))
        .routes(routes!(packs::wasm_private))
        .routes(routes!(packs::diff_fleet))
        .routes(routes!(packs::diff_private))
        .routes(routes!(rollouts::start, rollouts::list))
        .routes(routes!(rollouts::get))
        .routes(routes!(rollouts::advance))
        .routes(routes!(rollouts::mode))
        .routes(routes!(rollouts::pause))
        .routes(routes!(rollouts::resume))
        .routes(routes!(rollouts::rollback))
        .routes(routes!(rollouts::complete))
        .routes(routes!(rollouts::shadow))
        .routes(routes!(trace::get_checkpoint, trace::make_checkpoint))
        .routes(routes!(trace::verify))
        .routes(routes!(trace::prune))
        .routes(routes!(trace_query::events))
        .routes(routes!(fleet_trace::fleet_events))
        .routes(routes!(
            fleet_trace::get_fleet_checkpoint,
            fleet_trace::make_fleet_checkpoint
        ))
        .routes(routes!(fleet_trace::verify_fleet))
        .routes(routes!(fleet_trace::fleet_public_key))
        .routes(routes!(trace_query::run))
        .routes(routes!(trace_query::export))
        .routes(routes!(replay::replay))
        .routes(routes!(replay::what_if))
}

/// The OpenAPI 3 document of the API (as served at `/openapi.json`).
pub fn openapi() -> serde_json::Value {
    complete(api().split_for_parts().1)
}

/// The route annotations' document with what they cannot say once for
/// all (every problem response, closed schemas: [`document`]).
fn complete(doc: utoipa::openapi::OpenApi) -> serde_json::Value {
    let mut v = match serde_json::to_value(&doc) {
        Ok(v) => v,
        Err(e) => serde_json::json!({"error": format!("cannot encode the API document: {e}")}),
    };
    document::add_problems(&mut v);
    document::close_schemas(&mut v);
    v
}

async fn not_found() -> ApiError {
    ApiError::new(Kind::NotFound, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::new(
        Kind::MethodNotAllowed,
        "this endpoint does not support the method; see the `allow` header",
    )
}

/// The API's router, ready to serve.
pub fn router(state: AppState) -> Router {
    let (router, doc) = api().split_for_parts();
    let doc = std::sync::Arc::new(complete(doc));
    router
        .merge(crate::inbox::router())
        .route_layer(crate::http::edge::CheckUri)
        .route(
            "/openapi.json",
            axum::routing::get(move || {
                let doc = doc.clone();
                async move { Json(doc.as_ref().clone()) }
            }),
        )
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(JSON_BODY_LIMIT))
        .layer(crate::http::request_log::RequestLog)
        .with_state(state)
}
