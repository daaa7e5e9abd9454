//! Replay and what-if over HTTP: re-evaluate one recorded decision under
//! the configuration it was made under, or a range of them under a
//! candidate pack version or draft composition.

use crate::auth::Role;
use crate::compositions::resolve::{CompositionDoc, Source};
use crate::http::extract::{ApiJson, Caller};
use crate::http::problem::{ApiError, Kind, Problem};
use crate::state::AppState;
use crate::trace_log::replay::{self, ReplayError, ReplayReport, Target};
use crate::trace_log::what_if::{self, Candidate, DEFAULT_LIMIT, MAX_LIMIT, WhatIfReport, Window};
use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;
use utoipa::ToSchema;

impl From<ReplayError> for ApiError {
    fn from(e: ReplayError) -> Self {
        let kind = match &e {
            ReplayError::Store(_) => {
                return match e {
                    ReplayError::Store(s) => ApiError::from(s),
                    other => ApiError::internal(other),
                };
            }
            ReplayError::NoDecision { .. } | ReplayError::NoEvent { .. } => Kind::NotFound,
            ReplayError::NotDecision { .. }
            | ReplayError::Pruned { .. }
            | ReplayError::CandidateMissing { .. } => Kind::Unprocessable,
            ReplayError::ConfigMissing { .. } | ReplayError::PackMissing { .. } => Kind::Conflict,
            // The detail names the digest that no longer loads, builds or matches.
            _ => {
                tracing::error!(error = %e, "replay failed");
                Kind::Internal
            }
        };
        ApiError::new(kind, e.to_string())
    }
}

/// Which decision to replay: by id or by sequence number (one of the two).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplayBody {
    /// The decision id returned by `evaluate`.
    pub decision_id: Option<String>,
    /// The decision event's sequence number in the tenant's log.
    pub seq: Option<u64>,
}

/// Re-evaluates a recorded decision under exactly the configuration it was
/// made under (packs by digest, the recorded layers) and compares verdict,
/// routes, reason and findings with the log.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/trace/replay", tag = "trace",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = super::schemas::ReplaySelector,
    responses((status = 200, body = ReplayReport),
        (status = 404, body = Problem, description = "no such decision or sequence number"),
        (status = 409, body = Problem, description = "the configuration or a pack's bytes are gone"),
        (status = 422, body = Problem, description = "not a decision, or pruned")),
    security(("bearer" = [])))]
pub async fn replay(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<ReplayBody>,
) -> Result<Json<ReplayReport>, ApiError> {
    caller.tenant(&tenant, &[Role::Operator])?;
    let target = match (body.decision_id, body.seq) {
        (Some(id), None) => {
            crate::http::extract::body_text("decision_id", &id, 256)?;
            Target::DecisionId(id)
        }
        (None, Some(seq)) if i64::try_from(seq).is_ok() => Target::Seq(seq),
        (None, Some(_)) => {
            return Err(ApiError::new(
                Kind::Unprocessable,
                "`seq` is larger than any sequence number",
            )
            .with(serde_json::json!({"field": "seq"})));
        }
        _ => {
            return Err(ApiError::new(
                Kind::Unprocessable,
                "give exactly one of `decision_id` and `seq`",
            ));
        }
    };
    st.tenant_row(&tenant).await?;
    Ok(Json(
        replay::replay(st.store(), &st, &tenant, &target).await?,
    ))
}

/// What to re-evaluate under: `{"pack", "version", "source"?}` (a catalog
/// version of one pack swapped into each recorded configuration) or
/// `{"composition"}` (a draft composition for every decision).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CandidateBody {
    /// Pack name (with `version`).
    pub pack: Option<String>,
    /// Exact version of `pack`.
    pub version: Option<String>,
    /// `fleet` or `tenant`; default: the fleet catalog, else the tenant's private packs.
    pub source: Option<Source>,
    /// A draft composition, resolved and built like `PUT .../composition` does.
    #[serde(default, deserialize_with = "warden_host::json_object::optional")]
    pub composition: Option<CompositionDoc>,
}

/// A what-if run.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WhatIfBody {
    /// First sequence number (default 1).
    pub from_seq: Option<u64>,
    /// Last sequence number (default: the end of the log).
    pub to_seq: Option<u64>,
    /// Most decisions, 1 to 10000 (default 1000); the oldest of the range first.
    #[schema(minimum = 1, maximum = 10000)]
    pub limit: Option<usize>,
    /// The candidate.
    #[schema(value_type = super::schemas::Candidate)]
    #[serde(deserialize_with = "warden_host::json_object::object")]
    pub candidate: CandidateBody,
}

/// Re-evaluates recorded decisions under a candidate (a catalog version of
/// one pack, or a draft composition) and reports the verdicts it flips.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/trace/what-if", tag = "trace",
    params(("tenant" = String, Path, description = "Tenant id")),
    request_body = WhatIfBody,
    responses((status = 200, body = WhatIfReport),
        (status = 422, body = Problem, description = "unknown candidate, or a draft that does not build")),
    security(("bearer" = [])))]
pub async fn what_if(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<WhatIfBody>,
) -> Result<Json<WhatIfReport>, ApiError> {
    caller.tenant(&tenant, &[Role::Operator])?;
    let limit = body.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::new(
            Kind::Unprocessable,
            format!("`limit` must be between 1 and {MAX_LIMIT}, got `{limit}`"),
        ));
    }
    st.tenant_row(&tenant).await?;
    let c = body.candidate;
    let candidate = match (c.pack, c.version, c.composition) {
        (Some(pack), Some(version), None) => {
            crate::http::extract::body_text("candidate.pack", &pack, 64)?;
            crate::http::extract::body_text("candidate.version", &version, 256)?;
            what_if::candidate_pack(st.store(), &st, &tenant, &pack, &version, c.source).await?
        }
        (None, None, Some(doc)) if c.source.is_none() => {
            let composition = st.build(&tenant, &doc).await?.composition;
            Candidate::Composition(composition.ok_or_else(|| {
                ApiError::new(
                    Kind::InvalidComposition,
                    "the draft composition names no packs",
                )
            })?)
        }
        _ => {
            return Err(ApiError::new(
                Kind::Unprocessable,
                "`candidate` is either `{\"pack\", \"version\"}` or `{\"composition\"}`",
            ));
        }
    };
    let window = Window::new(body.from_seq, body.to_seq, limit);
    Ok(Json(
        what_if::what_if(st.store(), &st, &tenant, &candidate, window).await?,
    ))
}
