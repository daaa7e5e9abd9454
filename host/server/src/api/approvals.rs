//! Approvals over HTTP: the tenant's approval policy document, the inbox
//! (pending requests the caller may act on), a request's detail, the
//! runtime's long-poll wait and redemption, and votes.

use crate::approvals::policy::{ApprovalPolicy, Approver, OnTimeout};
use crate::approvals::record::{
    ApprovalRecord, Cause, Choice, MAX_REASON, Status, Vote, Voter, is_approval_id,
};
use crate::approvals::service;
use crate::auth::Role;
use crate::http::extract::{ApiJson, ApiQuery, Caller, PageParams, body_text};
use crate::http::problem::{ApiError, Kind};
use crate::state::AppState;
use axum::Json;
use axum::extract::{Path, State};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use warden_store::PendingFilter;

use super::{Paged, rfc3339};

/// Longest wait a runtime may ask for, in seconds.
pub const MAX_WAIT_S: u64 = 60;

/// The approval policy with its version.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionedApprovalPolicy {
    /// On `PUT`: the version the edit is based on (0 for the first save).
    /// In responses: the stored version.
    pub version: i64,
    /// The document.
    #[serde(deserialize_with = "warden_host::json_object::object")]
    pub policy: ApprovalPolicy,
}

/// Reads the tenant's approval policy.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/approval-policy", tag = "approvals",
    operation_id = "get_approval_policy",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = VersionedApprovalPolicy)), security(("bearer" = [])))]
pub async fn get_policy(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<VersionedApprovalPolicy>, ApiError> {
    caller.tenant(&tenant, &[Role::Operator, Role::Auditor])?;
    st.tenant_row(&tenant).await?;
    let a = service::policy(&st, &tenant)
        .await?
        .ok_or_else(|| ApiError::from(crate::approvals::ApprovalError::NoPolicy(tenant.clone())))?;
    Ok(Json(VersionedApprovalPolicy {
        version: a.version,
        policy: a.policy,
    }))
}

/// Replaces the tenant's approval policy if `version` is current. Every
/// field is checked first; requests in flight keep the policy they started with.
#[utoipa::path(put, path = "/v1/tenants/{tenant}/approval-policy", tag = "approvals",
    operation_id = "put_approval_policy",
    request_body = VersionedApprovalPolicy,
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = VersionedApprovalPolicy),
        (status = 409, body = crate::http::problem::Problem),
        (status = 422, body = crate::http::problem::Problem)),
    security(("bearer" = [])))]
pub async fn put_policy(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiJson(body): ApiJson<VersionedApprovalPolicy>,
) -> Result<Json<VersionedApprovalPolicy>, ApiError> {
    caller.tenant(&tenant, &[Role::Operator])?;
    let version =
        service::save_policy(&st, &tenant, caller.sub(), body.version, &body.policy).await?;
    Ok(Json(VersionedApprovalPolicy {
        version,
        policy: body.policy,
    }))
}

/// The tenant's webhook secret.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WebhookSecret {
    /// Hex; the key of the HMAC-SHA256 in each notification's
    /// `warden-signature` (`t=<unix seconds>,v1=<hex of HMAC(secret, "<t>.<body>")>`).
    pub secret: String,
}

/// The secret the tenant's approval webhooks are signed with (operators).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/approval-policy/webhook-secret", tag = "approvals",
    params(("tenant" = String, Path, description = "Tenant id")),
    responses((status = 200, body = WebhookSecret)), security(("bearer" = [])))]
pub async fn webhook_secret(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
) -> Result<Json<WebhookSecret>, ApiError> {
    caller.tenant(&tenant, &[Role::Operator])?;
    st.tenant_row(&tenant).await?;
    let secret = crate::approvals::webhooks::secret(&st, &tenant).await?;
    Ok(Json(WebhookSecret {
        secret: hex::encode(secret),
    }))
}

/// A step as an approver sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct StepView {
    /// The step (0-based).
    pub index: usize,
    /// How many steps the chain has.
    pub of: usize,
    /// Who may vote.
    pub approvers: Vec<Approver>,
    /// Approvals that approve.
    pub quorum: u32,
    /// Denials that deny.
    pub denials: u32,
    /// Approvals that count so far on this step.
    pub approvals: usize,
    /// Denials that count so far on this step.
    pub denied: usize,
    /// What the deadline does.
    pub on_timeout: OnTimeout,
    /// The step's deadline (RFC 3339).
    pub deadline: String,
}

/// A recorded vote.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct VoteView {
    /// `user:<sub>` or `agent:<sub>`.
    pub voter: String,
    /// The approver entry that made them eligible.
    pub as_approver: String,
    /// The step voted on.
    pub step: usize,
    /// Approve or deny.
    pub choice: Choice,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether it counted (an advisory agent's vote does not).
    pub counted: bool,
    /// When (RFC 3339).
    pub at: String,
}

/// How the request was resolved.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ResolutionView {
    /// Approved or denied.
    pub outcome: Choice,
    /// By votes, or by a deadline.
    pub cause: Cause,
    /// The step it was resolved on.
    pub step: usize,
    /// When (RFC 3339).
    pub at: String,
}

/// An approval request: what the agent wants to do (masked fields
/// masked), why it was escalated, the step, the votes and the deadline.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ApprovalView {
    /// Approval id.
    pub id: String,
    /// `pending`, `approved`, `denied` or `timed-out`.
    pub status: Status,
    /// The request (run) id.
    pub request_id: String,
    /// The escalated decision.
    pub decision_id: String,
    /// What a redemption must present.
    pub request_digest: String,
    /// The configuration the decision was made under.
    pub configuration: String,
    /// The escalation policy the request follows.
    pub policy: String,
    /// That policy document's version when the request was opened.
    pub policy_version: i64,
    /// The routing rule that matched (absent: the default policy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    /// The request, with masked fields masked.
    #[schema(value_type = Object)]
    pub request: Value,
    /// Why it was escalated.
    pub reason: String,
    /// The packs' route hints.
    pub routes: Vec<String>,
    /// The decision's findings.
    #[schema(value_type = Vec<Object>)]
    pub findings: Value,
    /// The current step (the last one, once resolved).
    pub step: StepView,
    /// Votes so far.
    pub votes: Vec<VoteView>,
    /// When it was opened (RFC 3339).
    pub created: String,
    /// How it was resolved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resolution: Option<ResolutionView>,
    /// When it was redeemed (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redeemed: Option<String>,
}

fn vote_view(v: &Vote) -> VoteView {
    VoteView {
        voter: v.voter.clone(),
        as_approver: v.as_approver.clone(),
        step: v.step,
        choice: v.choice,
        reason: v.reason.clone(),
        counted: v.counted,
        at: rfc3339(v.at_ms),
    }
}

/// The view of `r`.
pub fn view(r: &ApprovalRecord) -> ApprovalView {
    let step = r.policy.steps.get(r.step);
    ApprovalView {
        id: r.id.clone(),
        status: r.status,
        request_id: r.request_id.clone(),
        decision_id: r.decision_id.clone(),
        request_digest: r.request_digest.clone(),
        configuration: r.configuration.clone(),
        policy: r.policy_name.clone(),
        policy_version: r.policy_version,
        rule: r.rule.clone(),
        request: serde_json::to_value(&r.request).unwrap_or(Value::Null),
        reason: r.reason.clone(),
        routes: r.routes.clone(),
        findings: r.findings.clone(),
        step: StepView {
            index: r.step,
            of: r.policy.steps.len(),
            approvers: step.map(|s| s.approvers.clone()).unwrap_or_default(),
            quorum: step.map_or(0, |s| s.quorum),
            denials: step.map_or(0, |s| s.denials),
            approvals: r.counted(Choice::Approve),
            denied: r.counted(Choice::Deny),
            on_timeout: step.map(|s| s.on_timeout).unwrap_or_default(),
            deadline: rfc3339(r.deadline_ms),
        },
        votes: r.votes.iter().map(vote_view).collect(),
        created: rfc3339(r.created_ms),
        resolution: r.resolution.as_ref().map(|x| ResolutionView {
            outcome: x.outcome,
            cause: x.cause,
            step: x.step,
            at: rfc3339(x.at_ms),
        }),
        redeemed: r.redeemed.as_ref().map(|x| rfc3339(x.at_ms)),
    }
}

/// Who may read a tenant's approval requests.
const READERS: &[Role] = &[
    Role::Runtime,
    Role::Approver,
    Role::Agent,
    Role::Operator,
    Role::Auditor,
];

fn check_id(id: &str) -> Result<(), ApiError> {
    if !is_approval_id(id) {
        return Err(ApiError::not_found("approval", id));
    }
    Ok(())
}

/// `?request_id=` and paging for the inbox.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct InboxQuery {
    /// Items per page, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    #[param(max_length = 256)]
    pub cursor: Option<String>,
    /// Only the requests of this run.
    #[param(max_length = 256)]
    pub request_id: Option<String>,
}

/// The inbox: pending requests, oldest first. An approver (or agent
/// approver) sees those whose current step names them; operators and
/// auditors see all.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/approvals", tag = "approvals",
    params(("tenant" = String, Path, description = "Tenant id"), InboxQuery),
    responses((status = 200, body = Paged<ApprovalView>)), security(("bearer" = [])))]
pub async fn inbox(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiQuery(q): ApiQuery<InboxQuery>,
) -> Result<Json<Paged<ApprovalView>>, ApiError> {
    caller.tenant(
        &tenant,
        &[Role::Approver, Role::Agent, Role::Operator, Role::Auditor],
    )?;
    st.tenant_row(&tenant).await?;
    let limit = PageParams {
        limit: q.limit,
        cursor: None,
    }
    .limit()?;
    for (name, v) in [("cursor", &q.cursor), ("request_id", &q.request_id)] {
        if let Some(v) = v
            && (v.chars().count() > 256 || v.contains('\0'))
        {
            return Err(ApiError::new(
                Kind::InvalidParameter,
                format!("`{name}` must be at most 256 characters without NUL"),
            ));
        }
    }
    let sees_all = caller.0.is_fleet_admin() || caller.0.has_any(&[Role::Operator, Role::Auditor]);
    let filter = PendingFilter {
        eligible: if sees_all {
            Vec::new()
        } else {
            Voter::of(&caller.0).eligibility()
        },
        request_id: q.request_id.clone(),
    };
    let page = st
        .store()
        .pending_approvals(&tenant, &filter, q.cursor.as_deref(), limit)
        .await?;
    let items = page
        .items
        .iter()
        .map(|row| service::record_of(row).map(|r| view(&r)))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Json(Paged {
        items,
        next_cursor: page.next_cursor,
    }))
}

/// One approval request.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/approvals/{id}", tag = "approvals",
    operation_id = "get_approval",
    params(("tenant" = String, Path, description = "Tenant id"),
        ("id" = String, Path, description = "Approval id")),
    responses((status = 200, body = ApprovalView)), security(("bearer" = [])))]
pub async fn get(
    State(st): State<AppState>,
    caller: Caller,
    Path((tenant, id)): Path<(String, String)>,
) -> Result<Json<ApprovalView>, ApiError> {
    caller.tenant(&tenant, READERS)?;
    check_id(&id)?;
    let (r, _) = service::get(&st, &tenant, &id).await?;
    Ok(Json(view(&r)))
}

/// `?timeout_s=`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Longest wait in seconds, 0..=60 (default 30).
    #[param(minimum = 0, maximum = 60)]
    pub timeout_s: Option<u64>,
}

/// Long-poll: answers as soon as the request is resolved, or after
/// `timeout_s` with its current state (still `pending`). Call again to
/// keep waiting, also after a disconnect: nothing is lost meanwhile.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/approvals/{id}/wait", tag = "approvals",
    params(("tenant" = String, Path, description = "Tenant id"),
        ("id" = String, Path, description = "Approval id"), WaitQuery),
    responses((status = 200, body = ApprovalView)), security(("bearer" = [])))]
pub async fn wait(
    State(st): State<AppState>,
    caller: Caller,
    Path((tenant, id)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<WaitQuery>,
) -> Result<Json<ApprovalView>, ApiError> {
    caller.tenant(&tenant, READERS)?;
    check_id(&id)?;
    let s = q.timeout_s.unwrap_or(30);
    if s > MAX_WAIT_S {
        return Err(ApiError::new(
            Kind::InvalidParameter,
            format!("`timeout_s` must be 0 to {MAX_WAIT_S}, got `{s}`"),
        ));
    }
    let r = service::wait(&st, &tenant, &id, std::time::Duration::from_secs(s)).await?;
    Ok(Json(view(&r)))
}

/// A vote.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    /// `approve` or `deny`.
    pub choice: Choice,
    /// Why (required to deny, and always where the policy says so).
    #[serde(default)]
    #[schema(
        max_length = 4096,
        pattern = "^[^\\u0000-\\u0008\\u000b\\u000c\\u000e-\\u001f\\u007f-\\u009f]*$"
    )]
    pub reason: Option<String>,
}

/// Votes on the request's current step: an `approver` token whose `sub`
/// or a group of whose `groups` the step names, or an `agent` token the
/// step names. The request after the vote.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/approvals/{id}/votes", tag = "approvals",
    request_body = VoteBody,
    params(("tenant" = String, Path, description = "Tenant id"),
        ("id" = String, Path, description = "Approval id")),
    responses((status = 200, body = ApprovalView),
        (status = 403, body = crate::http::problem::Problem, description = "not an approver of the current step, or self-approval"),
        (status = 409, body = crate::http::problem::Problem, description = "resolved, past its deadline, or voted already")),
    security(("bearer" = [])))]
pub async fn vote(
    State(st): State<AppState>,
    caller: Caller,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<VoteBody>,
) -> Result<Json<ApprovalView>, ApiError> {
    caller.tenant(&tenant, &[Role::Approver, Role::Agent])?;
    check_id(&id)?;
    if let Some(r) = &body.reason {
        body_text("reason", r, MAX_REASON)?;
    }
    let r = service::vote(
        &st,
        &tenant,
        &id,
        &Voter::of(&caller.0),
        body.choice,
        body.reason.as_deref(),
    )
    .await?;
    Ok(Json(view(&r)))
}

/// A redemption.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RedeemBody {
    /// The digest of the action about to run: `sha256:` and the hex SHA-256
    /// of the request's RFC 8785 form (the decision response's
    /// `approval.request_digest`).
    #[schema(pattern = "^sha256:[0-9a-f]{64}$")]
    pub request_digest: String,
}

/// Redeems an approved request, once, for the action it approved: the
/// runtime's proof, to itself and the log, that what it runs now is what
/// was approved.
#[utoipa::path(post, path = "/v1/tenants/{tenant}/approvals/{id}/redeem", tag = "approvals",
    request_body = RedeemBody,
    params(("tenant" = String, Path, description = "Tenant id"),
        ("id" = String, Path, description = "Approval id")),
    responses((status = 200, body = ApprovalView),
        (status = 409, body = crate::http::problem::Problem, description = "not approved, redeemed already, or another action")),
    security(("bearer" = [])))]
pub async fn redeem(
    State(st): State<AppState>,
    caller: Caller,
    Path((tenant, id)): Path<(String, String)>,
    ApiJson(body): ApiJson<RedeemBody>,
) -> Result<Json<ApprovalView>, ApiError> {
    caller.tenant(&tenant, &[Role::Runtime])?;
    check_id(&id)?;
    let d = &body.request_digest;
    if !(d.len() == 71
        && d.starts_with("sha256:")
        && d[7..]
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
    {
        return Err(ApiError::new(
            Kind::Unprocessable,
            "`request_digest` must be `sha256:` and 64 lower-case hex digits",
        )
        .with(serde_json::json!({"field": "request_digest"})));
    }
    let r = service::redeem(&st, &tenant, &id, &body.request_digest, caller.sub()).await?;
    Ok(Json(view(&r)))
}
