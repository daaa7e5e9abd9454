//! Decisions over HTTP: one request, or a batch.

use crate::approvals::service::{ApprovalRef, Opening};
use crate::auth::Role;
use crate::compositions::resolve::Served;
use crate::http::extract::{ApiJson, ApiQuery, Caller, parse_json};
use crate::http::problem::{ApiError, Kind, Problem};
use crate::state::{AppState, TenantRuntime};
use crate::trace_log::events;
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use serde_json::value::RawValue;
use std::sync::{Arc, LazyLock};
use utoipa::ToSchema;
use warden_host::EffectiveRule;
use warden_host::{Composition, Decision, Request, ValidRequest};
use warden_store::{NewEvent, ShadowDiffRow, now_ms};

/// Most requests in one batch.
pub const MAX_BATCH: usize = 1000;

/// A decision with its id and the pack versions that served it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct EvaluateResponse {
    /// Unique, time-ordered id of this decision.
    pub decision_id: String,
    /// The decision and its explanation.
    #[serde(flatten)]
    #[schema(value_type = Object)]
    pub decision: Decision,
    /// Which version of each pack served, and why (rollouts, requirements).
    #[schema(value_type = Vec<Served>)]
    pub serving: Arc<Vec<Served>>,
    /// Digest of the effective configuration the decision was made under
    /// (the trace log's `configuration` event of that digest holds it).
    #[schema(value_type = String)]
    #[serde(default)]
    pub configuration: Arc<str>,
    /// The decision's sequence number in the tenant's trace log (set once recorded).
    #[serde(default)]
    pub trace_seq: u64,
    /// For an escalation under the tenant's approval policy: the approval
    /// request it opened (wait for it, then redeem it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<Box<ApprovalRef>>,
}

/// How much of the explanation a decision response carries.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Explain {
    /// Verdict, routes, reason, findings, each pack's run and the layers
    /// applied, without each rule's effective settings (they are the same
    /// for every decision under one configuration).
    #[default]
    Summary,
    /// The summary and every rule's effective settings with the layer that set each.
    Full,
}

/// `?explain=summary|full`.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EvaluateParams {
    /// `summary` (the default) or `full`.
    #[serde(default)]
    #[param(value_type = Option<String>, pattern = "^(summary|full)$")]
    pub explain: Explain,
}

/// Shared by every summary response in place of the settings.
static NO_SETTINGS: LazyLock<Arc<Vec<EffectiveRule>>> = LazyLock::new(|| Arc::new(Vec::new()));

fn new_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

fn runtime_ready(tenant: &str, rt: &TenantRuntime) -> Result<Arc<Composition>, ApiError> {
    if rt.disabled {
        return Err(ApiError::new(
            Kind::TenantNotReady,
            format!("tenant `{tenant}` is disabled"),
        ));
    }
    rt.composition.clone().ok_or_else(|| {
        ApiError::new(
            Kind::TenantNotReady,
            format!("tenant `{tenant}` has no packs in its composition"),
        )
    })
}

/// What the pool computed for one request: the enforced decision and,
/// while a shadow rollout runs, the shadow version's.
struct Evaluated {
    decision: Decision,
    shadow: Option<Decision>,
}

/// Requests of a batch evaluated per job on the pool: small enough that a
/// batch takes turns with other tenants, big enough to amortize the hop.
const CHUNK: usize = 16;

/// Evaluates each request (and its shadow), and the CPU time that took
/// (preemption is not the packs' doing: [`crate::decisions::cpu_time`]), or
/// the wall time when that is under [`crate::decisions::pace::Pace::FAST`].
fn evaluate_all(
    rt: &TenantRuntime,
    composition: &Composition,
    reqs: &[ValidRequest],
) -> (Vec<Evaluated>, std::time::Duration) {
    let watch = crate::decisions::cpu_time::Stopwatch::start();
    let out = reqs
        .iter()
        .map(|req| Evaluated {
            decision: composition.evaluate_valid(req),
            shadow: rt.shadow.as_ref().map(|(s, _)| s.evaluate_valid(req)),
        })
        .collect();
    (
        out,
        watch.cpu_unless_under(crate::decisions::pace::Pace::FAST),
    )
}

/// Evaluates `reqs` on the engine's evaluation pool in the tenant's lane
/// (never on the async runtime's threads), a chunk per job. A chunk the
/// pool refuses (the tenant's queue is full) gets that error in place of
/// its decisions; the others are evaluated.
async fn evaluate_on_pool(
    st: &AppState,
    tenant: &str,
    rt: &Arc<TenantRuntime>,
    composition: &Arc<Composition>,
    reqs: &Arc<Vec<ValidRequest>>,
) -> Vec<Result<Evaluated, ApiError>> {
    // A tenant whose packs have been fast is evaluated in place, one
    // request at a time (the hop to the pool costs more than its packs);
    // see `pace`. In place, the whole chunk holds the runtime's thread.
    if reqs.len() <= CHUNK
        && let Some(_inline) = rt.pace.inline()
    {
        let (out, took) = evaluate_all(rt, composition, reqs);
        rt.pace.took(took);
        return out.into_iter().map(Ok).collect();
    }
    let pool = match st.engine().pool() {
        Ok(p) => p,
        Err(b) => return reqs.iter().map(|_| Err(busy(tenant, b))).collect(),
    };
    let mut jobs = Vec::new();
    for start in (0..reqs.len()).step_by(CHUNK) {
        let end = (start + CHUNK).min(reqs.len());
        let (rt, composition, reqs) = (Arc::clone(rt), Arc::clone(composition), Arc::clone(reqs));
        jobs.push((
            end - start,
            pool.run(tenant, move || {
                let (out, took) = evaluate_all(&rt, &composition, &reqs[start..end]);
                rt.pace.took(took / u32::try_from(end - start).unwrap_or(1));
                out
            }),
        ));
    }
    let mut out = Vec::with_capacity(reqs.len());
    for (n, job) in jobs {
        match job.await {
            Ok(done) => out.extend(done.into_iter().map(Ok)),
            Err(b) => out.extend((0..n).map(|_| Err(busy(tenant, b)))),
        }
    }
    out
}

/// The tenant's turn to have one more decision in flight (fair across
/// tenants: [`crate::decisions::admission`]).
async fn admit<'a>(
    st: &'a AppState,
    tenant: &'a str,
) -> Result<crate::decisions::admission::Permit<'a>, ApiError> {
    st.admission().enter(tenant).await.map_err(|_| {
        ApiError::new(
            Kind::TooManyRequests,
            format!("too many decisions of tenant `{tenant}` are waiting; retry shortly"),
        )
    })
}

/// A decision that failed closed because a pack is quarantined paces the
/// tenant's further decisions (see [`crate::decisions::admission`]).
fn pace_if_quarantined<'a>(
    st: &AppState,
    tenant: &str,
    rt: &TenantRuntime,
    mut evaluated: impl Iterator<Item = &'a Evaluated>,
) {
    if evaluated.any(|e| {
        e.decision
            .explanation
            .packs
            .iter()
            .any(|p| p.is_quarantined())
    }) {
        st.admission().pace(tenant, rt.paced_per_s);
    }
}

/// The answer when the pool refuses work: 429 when the tenant's own queue
/// is full, 503 when the server's is; both with `Retry-After`.
fn busy(tenant: &str, b: warden_host::Busy) -> ApiError {
    match b {
        warden_host::Busy::Lane => ApiError::new(
            Kind::TooManyRequests,
            format!(
                "too many decisions of tenant `{tenant}` are waiting to be evaluated; retry shortly"
            ),
        ),
        _ => ApiError::new(
            Kind::Unavailable,
            "the server has too many decisions waiting to be evaluated; retry shortly",
        ),
    }
}

/// The response for an evaluated request; records a shadow difference.
fn respond(
    st: &AppState,
    tenant: &str,
    rt: &TenantRuntime,
    req: &Request,
    evaluated: Evaluated,
    explain: Explain,
) -> EvaluateResponse {
    let decision_id = new_id();
    let Evaluated {
        mut decision,
        shadow,
    } = evaluated;
    if let (Some(other), Some((_, rollouts))) = (shadow, &rt.shadow)
        && other.verdict != decision.verdict
    {
        record_shadow(
            st,
            tenant,
            rt,
            &decision_id,
            req,
            &decision,
            &other,
            rollouts,
        );
    }
    if explain == Explain::Summary {
        for p in &mut decision.explanation.packs {
            p.settings = Arc::clone(&NO_SETTINGS);
        }
    }
    EvaluateResponse {
        decision_id,
        decision,
        serving: Arc::clone(&rt.serving),
        configuration: Arc::clone(&rt.config),
        trace_seq: 0,
        approval: None,
    }
}

/// What the downstream pack approvers `record`'s policy names say about
/// `req` (evaluated in place: one pack each, under the engine's deadline).
fn pack_votes(
    rt: &TenantRuntime,
    req: &Request,
    record: &crate::approvals::record::ApprovalRecord,
) -> std::collections::BTreeMap<String, crate::approvals::record::PackVote> {
    use crate::approvals::policy::Approver;
    use crate::approvals::record::{Choice, PackVote};
    let mut out = std::collections::BTreeMap::new();
    for step in &record.policy.steps {
        for a in &step.approvers {
            let Approver::Pack(p) = a else { continue };
            if out.contains_key(&p.name) {
                continue;
            }
            let vote = match rt.approver_packs.get(&p.name) {
                Some(c) => {
                    let d = c.evaluate(req);
                    let reason = rt.masker.mask(req).decision(&d).reason.clone();
                    PackVote {
                        choice: match d.verdict {
                            warden_host::Verdict::Allow => Some(Choice::Approve),
                            warden_host::Verdict::Deny => Some(Choice::Deny),
                            warden_host::Verdict::Escalate => None,
                        },
                        reason,
                    }
                }
                None => PackVote {
                    choice: None,
                    reason: format!("pack `{}` is not available", p.name),
                },
            };
            out.insert(p.name.clone(), vote);
        }
    }
    out
}

/// The trace event of a decision (the request after masking, the decision
/// with its findings, the packs that ran, the configuration digest) and,
/// for an escalation under an approval policy, the approval request it opens.
fn event(
    rt: &TenantRuntime,
    req: &Request,
    r: &EvaluateResponse,
) -> Result<(NewEvent, Option<Opening>), ApiError> {
    let masked = rt.masker.mask(req);
    let decision = masked.decision(&r.decision);
    let event =
        events::decision_event(&r.decision_id, req, &masked.request, &decision, &rt.config)?;
    let opening = match &rt.approvals {
        Some(a) if r.decision.verdict == warden_host::Verdict::Escalate => {
            crate::approvals::service::open(
                a,
                req,
                &masked.request,
                &decision,
                &r.decision_id,
                &rt.config,
                &|record| pack_votes(rt, req, record),
            )?
        }
        _ => None,
    };
    Ok((event, opening))
}

/// Records decisions in the tenant's trace log before they are answered;
/// a decision that cannot be recorded is not returned.
async fn record(
    st: &AppState,
    tenant: &str,
    rt: &TenantRuntime,
    items: Vec<(&ValidRequest, &mut EvaluateResponse)>,
) -> Result<(), ApiError> {
    if items.is_empty() {
        return Ok(());
    }
    let mut events = Vec::with_capacity(items.len());
    let mut openings = Vec::new();
    for (i, (q, r)) in items.iter().enumerate() {
        let (e, opening) = event(rt, q, r)?;
        events.push(e);
        if let Some(o) = opening {
            openings.push((i, o));
        }
    }
    // A decision's records first, in request order, then the approval
    // events: the decision's sequence number stays its own event's.
    let mut opens = crate::trace_log::appender::Openings::default();
    for (_, o) in &mut openings {
        events.append(&mut o.events);
        opens.approvals.push(o.row.clone());
        opens.outbox.append(&mut o.outbox);
    }
    let records = st
        .appender()
        .append_with(tenant, events, opens)
        .await
        .map_err(|e| {
            ApiError::new(
                Kind::Unavailable,
                "the decision could not be recorded in the trace log; it was not made",
            )
            .caused_by(format!("cannot append to the trace log of `{tenant}`: {e}"))
        })?;
    let mut items = items;
    for ((_, r), rec) in items.iter_mut().zip(records) {
        r.trace_seq = rec.seq;
    }
    for (i, o) in openings {
        items[i].1.approval = Some(Box::new(o.reference));
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn record_shadow(
    st: &AppState,
    tenant: &str,
    rt: &TenantRuntime,
    decision_id: &str,
    req: &Request,
    enforced: &Decision,
    shadow: &Decision,
    rollouts: &[String],
) {
    let masked = rt.masker.mask(req);
    let stored = &masked.request;
    let (enforced, shadow) = (masked.decision(enforced), masked.decision(shadow));
    let detail =
        serde_json::json!({"request": &**stored, "enforced": &*enforced, "shadow": &*shadow});
    let event = events::new_event(
        events::class_of(req),
        events::kind::SHADOW_DIFFERENCE,
        &serde_json::json!({
            "decision_id": decision_id,
            "rollouts": rollouts,
            "request": &**stored,
            "enforced": {"verdict": enforced.verdict, "reason": enforced.reason,
                         "findings": enforced.explanation.findings},
            "shadow": {"verdict": shadow.verdict, "reason": shadow.reason,
                       "findings": shadow.explanation.findings,
                       "packs": shadow.explanation.packs.iter()
                           .map(|p| format!("{}@{}", p.pack, p.version)).collect::<Vec<_>>()},
        }),
    );
    let rows: Vec<ShadowDiffRow> = rollouts
        .iter()
        .map(|r| ShadowDiffRow {
            id: new_id(),
            rollout_id: r.clone(),
            tenant: tenant.to_owned(),
            request_id: req.id.clone(),
            decision_id: decision_id.to_owned(),
            enforced: enforced.verdict.as_str().to_owned(),
            shadow: shadow.verdict.as_str().to_owned(),
            detail: detail.to_string(),
            at_ms: now_ms(),
        })
        .collect();
    // Written off the request path, with a bound: a shadow version that
    // disagrees on every request must not pile up unbounded writes.
    let Some(permit) = st.shadow_permit() else {
        tracing::warn!(tenant = %tenant, "too many shadow differences being written; one dropped");
        return;
    };
    let store = st.store().clone();
    let appender = st.appender().clone();
    let log = tenant.to_owned();
    tokio::spawn(async move {
        match event {
            Ok(e) => {
                if let Err(e) = appender.append(&log, vec![e]).await {
                    tracing::error!(tenant = %log, error = %e, "cannot record a shadow difference in the trace log");
                }
            }
            Err(e) => {
                tracing::error!(tenant = %log, error = %e, "cannot encode a shadow difference")
            }
        }
        for row in rows {
            if let Err(e) = store.insert_shadow_diff(&row).await {
                tracing::error!(tenant = %log, error = %e, "cannot record a shadow difference");
            }
        }
        drop(permit);
    });
}

fn parse_request(bytes: &[u8]) -> Result<ValidRequest, ApiError> {
    let req: Request = parse_json(bytes)?;
    Ok(ValidRequest::new(req)?)
}

/// Decides one request: allow, deny or escalate, with the explanation.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/evaluate", tag = "decisions",
    params(("tenant" = String, Path, description = "Tenant id"), EvaluateParams),
    request_body(content = super::schemas::DecisionRequest, description = "A request (see the README's request schema)"),
    responses((status = 200, body = EvaluateResponse),
        (status = 409, body = Problem, description = "tenant disabled or without packs")),
    security(("bearer" = [])))]
pub async fn evaluate(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiQuery(params): ApiQuery<EvaluateParams>,
    ApiJson(req): ApiJson<Request>,
) -> Result<Json<EvaluateResponse>, ApiError> {
    caller.tenant(&tenant, &[Role::Runtime])?;
    let req = ValidRequest::new(req)?;
    let rt = st.runtime(&tenant).await?;
    let composition = runtime_ready(&tenant, &rt)?;
    let _turn = admit(&st, &tenant).await?;
    let reqs = Arc::new(vec![req]);
    let evaluated = evaluate_on_pool(&st, &tenant, &rt, &composition, &reqs)
        .await
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::internal("the pool returned no decision"))??;
    let req = &reqs[0];
    pace_if_quarantined(&st, &tenant, &rt, std::iter::once(&evaluated));
    let mut response = respond(&st, &tenant, &rt, req, evaluated, params.explain);
    crate::http::request_log::record_decision(&response.decision_id);
    record(&st, &tenant, &rt, vec![(req, &mut response)]).await?;
    Ok(Json(response))
}

/// Body of a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to 1000 requests; a malformed one gets its error in its place.
    /// Each is a `DecisionRequest`; any JSON value is taken, and one that
    /// is not a valid request gets its problem in its place in the results.
    #[schema(value_type = Vec<serde_json::Value>, min_items = 1, max_items = 1000)]
    pub requests: Vec<Box<RawValue>>,
}

/// One result of a batch: a decision, or why that request was rejected.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(untagged)]
pub enum BatchItem {
    /// A decision.
    Decision(EvaluateResponse),
    /// The request was malformed.
    Error {
        /// The problem.
        #[schema(value_type = Object)]
        error: Value,
    },
}

/// Results in request order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct BatchResponse {
    /// One per request, in order.
    pub results: Vec<BatchItem>,
}

/// Decides many requests; a malformed one gets an error in its place.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/evaluate/batch", tag = "decisions",
    params(("tenant" = String, Path, description = "Tenant id"), EvaluateParams),
    request_body = BatchRequest,
    responses((status = 200, body = BatchResponse)), security(("bearer" = [])))]
pub async fn batch(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiQuery(params): ApiQuery<EvaluateParams>,
    ApiJson(body): ApiJson<BatchRequest>,
) -> Result<Json<BatchResponse>, ApiError> {
    caller.tenant(&tenant, &[Role::Runtime])?;
    if body.requests.is_empty() || body.requests.len() > MAX_BATCH {
        return Err(ApiError::new(
            Kind::Unprocessable,
            format!(
                "a batch holds 1 to {MAX_BATCH} requests, got {}",
                body.requests.len()
            ),
        ));
    }
    let rt = st.runtime(&tenant).await?;
    let composition = runtime_ready(&tenant, &rt)?;
    let _turn = admit(&st, &tenant).await?;
    // Each item parsed on its own: a malformed one gets its error in place.
    let mut slots: Vec<Result<usize, ApiError>> = Vec::with_capacity(body.requests.len());
    let mut valid = Vec::new();
    for v in &body.requests {
        slots.push(parse_request(v.get().as_bytes()).map(|req| {
            valid.push(req);
            valid.len() - 1
        }));
    }
    let valid = Arc::new(valid);
    let evaluated = evaluate_on_pool(&st, &tenant, &rt, &composition, &valid).await;
    pace_if_quarantined(&st, &tenant, &rt, evaluated.iter().flatten());
    let mut decided: Vec<Result<EvaluateResponse, ApiError>> = evaluated
        .into_iter()
        .zip(valid.iter())
        .map(|(e, req)| e.map(|e| respond(&st, &tenant, &rt, req, e, params.explain)))
        .collect();
    let items = valid
        .iter()
        .zip(decided.iter_mut())
        .filter_map(|(req, d)| Some((req, d.as_mut().ok()?)))
        .collect();
    record(&st, &tenant, &rt, items).await?;
    let mut decided: Vec<Option<Result<EvaluateResponse, ApiError>>> =
        decided.into_iter().map(Some).collect();
    let results = slots
        .into_iter()
        .map(|slot| {
            let item = slot.and_then(|i| {
                decided[i]
                    .take()
                    .unwrap_or_else(|| Err(ApiError::internal("a batch item was answered twice")))
            });
            match item {
                Ok(r) => BatchItem::Decision(r),
                Err(e) => BatchItem::Error {
                    error: serde_json::to_value(e.problem()).unwrap_or(Value::Null),
                },
            }
        })
        .collect();
    Ok(Json(BatchResponse { results }))
}
