//! The inbox's pages: sign-in, the list of pending requests the approver
//! may act on, one request with everything needed to decide it, and the
//! vote. Each page is a template whose values askama escapes.

use super::format::{money, time};
use super::harden;
use super::session::{self, Session};
use crate::approvals::record::{ApprovalRecord, Choice, Status, Voter, is_approval_id};
use crate::approvals::service;
use crate::auth::Role;
use crate::http::problem::ApiError;
use crate::state::AppState;
use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::Value;
use warden_store::{PendingFilter, now_ms};

/// Rows on the list page.
const LIST_LIMIT: usize = 100;

fn page(status: StatusCode, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => harden(
            (
                status,
                [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
                html,
            )
                .into_response(),
        ),
        Err(e) => {
            tracing::error!(error = %e, "cannot render an inbox page");
            harden(
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "the page could not be rendered",
                )
                    .into_response(),
            )
        }
    }
}

#[derive(Template)]
#[template(path = "inbox/login.html")]
struct LoginPage<'a> {
    error: Option<&'a str>,
    dev: bool,
}

#[derive(Template)]
#[template(path = "inbox/message.html")]
struct MessagePage<'a> {
    title: &'a str,
    message: &'a str,
}

fn message(status: StatusCode, title: &str, text: &str) -> Response {
    page(
        status,
        &MessagePage {
            title,
            message: text,
        },
    )
}

fn login_page(st: &AppState, status: StatusCode, error: Option<&str>) -> Response {
    page(
        status,
        &LoginPage {
            error,
            dev: st.inbox().dev_login.is_some(),
        },
    )
}

/// One pending request on the list.
struct Row {
    id: String,
    tool: String,
    amount: String,
    counterparty: String,
    agent: String,
    step: String,
    votes: String,
    deadline_ms: i64,
    deadline: String,
}

#[derive(Template)]
#[template(path = "inbox/list.html")]
struct ListPage {
    who: String,
    tenant: String,
    csrf: String,
    rows: Vec<Row>,
    more: bool,
}

fn voter(s: &Session) -> Voter<'_> {
    Voter::of(&s.claims)
}

fn row(r: &ApprovalRecord) -> Row {
    let a = &r.request.action;
    let step = r.policy.steps.get(r.step);
    Row {
        id: r.id.clone(),
        tool: a.tool.clone(),
        amount: a.amount.as_ref().map(money).unwrap_or_default(),
        counterparty: a.counterparty.clone().unwrap_or_default(),
        agent: r.request.principal.agent.clone(),
        step: format!("{} of {}", r.step + 1, r.policy.steps.len()),
        votes: format!(
            "{} of {}",
            r.counted(Choice::Approve),
            step.map_or(0, |s| s.quorum)
        ),
        deadline_ms: r.deadline_ms,
        deadline: time(r.deadline_ms),
    }
}

/// `GET /inbox`: the pending requests the approver may act on, or the sign-in page.
pub async fn home(State(st): State<AppState>, headers: HeaderMap) -> Response {
    let Some(s) = session::current(&st, &headers) else {
        return login_page(&st, StatusCode::OK, None);
    };
    let filter = PendingFilter {
        eligible: voter(&s).eligibility(),
        request_id: None,
    };
    let page_rows = match st
        .store()
        .pending_approvals(s.tenant(), &filter, None, LIST_LIMIT)
        .await
    {
        Ok(p) => p,
        Err(e) => return fault(ApiError::from(e)),
    };
    let mut rows = Vec::with_capacity(page_rows.items.len());
    for r in &page_rows.items {
        match service::record_of(r) {
            Ok(rec) => rows.push(row(&rec)),
            Err(e) => return fault(ApiError::from(e)),
        }
    }
    page(
        StatusCode::OK,
        &ListPage {
            who: s.claims.sub.clone(),
            tenant: s.tenant().to_owned(),
            csrf: s.csrf(),
            rows,
            more: page_rows.next_cursor.is_some(),
        },
    )
}

fn fault(e: ApiError) -> Response {
    if let Some(cause) = &e.cause {
        tracing::error!(error = %cause, "inbox request failed");
    }
    message(
        e.kind.status(),
        "Something went wrong",
        if e.kind.status().is_server_error() {
            "The server could not handle this request. Try again in a moment."
        } else {
            &e.detail
        },
    )
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    token: Option<String>,
}

fn signed_in(st: &AppState, token: &str) -> Response {
    let mut r = Redirect::to("/inbox").into_response();
    if let Ok(v) = session::set_cookie(token, st.inbox().secure_cookies).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    harden(r)
}

/// `POST /inbox/login`: signs in with a pasted token.
pub async fn login(
    State(st): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<LoginForm>, FormRejection>,
) -> Response {
    if !session::same_origin(&headers) {
        return message(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form was not sent from this inbox.",
        );
    }
    let token = form.ok().and_then(|Form(f)| f.token).unwrap_or_default();
    match session::check(&st, &token) {
        Ok(_) => signed_in(&st, token.trim()),
        Err(why) => login_page(&st, StatusCode::UNAUTHORIZED, Some(why)),
    }
}

/// `POST /inbox/dev-login`: with `--seed-demo`, signs in as `demo-approver`
/// (group `finance`) of the `demo` tenant.
pub async fn dev_login(State(st): State<AppState>, headers: HeaderMap) -> Response {
    if !session::same_origin(&headers) {
        return message(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form was not sent from this inbox.",
        );
    }
    let Some(signer) = &st.inbox().dev_login else {
        return message(
            StatusCode::NOT_FOUND,
            "Not available",
            "The development login is off.",
        );
    };
    let now = now_ms() / 1000;
    let claims = crate::auth::Claims {
        sub: "demo-approver".to_owned(),
        exp: u64::try_from(now).unwrap_or(0) + 12 * 3600,
        tenant: "demo".to_owned(),
        roles: vec![Role::Approver],
        groups: vec!["finance".to_owned()],
        iat: u64::try_from(now).ok(),
    };
    match signer.sign(&claims) {
        Ok(token) => signed_in(&st, &token),
        Err(e) => fault(ApiError::internal(e)),
    }
}

/// A form that only carries the CSRF token.
#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// `POST /inbox/logout`.
pub async fn logout(
    State(st): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<CsrfForm>, FormRejection>,
) -> Response {
    let Some(s) = session::current(&st, &headers) else {
        return Redirect::to("/inbox").into_response();
    };
    let csrf = form.ok().and_then(|Form(f)| f.csrf).unwrap_or_default();
    if !session::same_origin(&headers) || !s.csrf_ok(&csrf) {
        return message(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form was not sent from this inbox.",
        );
    }
    let mut r = Redirect::to("/inbox").into_response();
    if let Ok(v) = session::clear_cookie(st.inbox().secure_cookies).parse() {
        r.headers_mut().insert(header::SET_COOKIE, v);
    }
    harden(r)
}

/// A finding as the detail page shows it.
struct FindingView {
    pack: String,
    rule: String,
    verdict: String,
    reason: String,
}

/// A vote as the detail page shows it.
struct VoteLine {
    voter: String,
    choice: &'static str,
    reason: String,
    at: String,
    advisory: bool,
}

#[derive(Template)]
#[template(path = "inbox/detail.html")]
struct DetailPage {
    who: String,
    tenant: String,
    csrf: String,
    id: String,
    status: &'static str,
    outcome: String,
    tool: String,
    safety_class: String,
    amount: String,
    counterparty: String,
    agent: String,
    on_behalf_of: String,
    tags: String,
    request_id: String,
    decision_id: String,
    reason: String,
    args: String,
    findings: Vec<FindingView>,
    votes: Vec<VoteLine>,
    policy: String,
    step: String,
    quorum: String,
    approvers: String,
    deadline_ms: i64,
    deadline: String,
    can_vote: bool,
    why_not: String,
    error: String,
    done: bool,
}

fn text(v: &Value) -> String {
    v.as_str().map(str::to_owned).unwrap_or_default()
}

fn detail_page(s: &Session, r: &ApprovalRecord, error: &str, done: bool) -> DetailPage {
    let a = &r.request.action;
    let step = r.policy.steps.get(r.step);
    let (can_vote, why_not) = match r.eligibility(&voter(s)) {
        Ok(_) if now_ms() < r.deadline_ms => (true, String::new()),
        Ok(_) => (false, "The deadline of this step has passed.".to_owned()),
        Err(e) => (false, e.to_string()),
    };
    let outcome = match (&r.resolution, r.status) {
        (_, Status::Pending) => String::new(),
        (Some(x), Status::Approved) if x.cause == crate::approvals::record::Cause::Timeout => {
            "Allowed when its deadline passed".to_owned()
        }
        (_, Status::Approved) => "Approved".to_owned(),
        (_, Status::Denied) => "Denied".to_owned(),
        (_, Status::TimedOut) => "Timed out: denied".to_owned(),
    };
    DetailPage {
        who: s.claims.sub.clone(),
        tenant: s.tenant().to_owned(),
        csrf: s.csrf(),
        id: r.id.clone(),
        status: r.status.as_str(),
        outcome,
        tool: a.tool.clone(),
        safety_class: serde_json::to_value(a.safety_class)
            .map(|v| text(&v))
            .unwrap_or_default(),
        amount: a.amount.as_ref().map(money).unwrap_or_default(),
        counterparty: a.counterparty.clone().unwrap_or_default(),
        agent: r.request.principal.agent.clone(),
        on_behalf_of: r.request.principal.on_behalf_of.clone().unwrap_or_default(),
        tags: a.tags.join(", "),
        request_id: r.request_id.clone(),
        decision_id: r.decision_id.clone(),
        reason: r.reason.clone(),
        args: serde_json::to_string_pretty(&a.args).unwrap_or_default(),
        findings: r
            .findings
            .as_array()
            .map(|fs| {
                fs.iter()
                    .map(|f| FindingView {
                        pack: text(&f["pack"]),
                        rule: text(&f["rule"]),
                        verdict: text(&f["verdict"]),
                        reason: text(&f["reason"]),
                    })
                    .collect()
            })
            .unwrap_or_default(),
        votes: r
            .votes
            .iter()
            .map(|v| VoteLine {
                voter: v.voter.clone(),
                choice: match v.choice {
                    Choice::Approve => "approved",
                    Choice::Deny => "denied",
                },
                reason: v.reason.clone().unwrap_or_default(),
                at: time(v.at_ms),
                advisory: !v.counted,
            })
            .collect(),
        policy: format!("{} (version {})", r.policy_name, r.policy_version),
        step: format!("{} of {}", r.step + 1, r.policy.steps.len()),
        quorum: format!(
            "{} of {} approvals",
            r.counted(Choice::Approve),
            step.map_or(0, |s| s.quorum)
        ),
        approvers: step
            .map(|s| {
                s.approvers
                    .iter()
                    .map(|a| a.key())
                    .collect::<Vec<_>>()
                    .join(", ")
            })
            .unwrap_or_default(),
        deadline_ms: r.deadline_ms,
        deadline: time(r.deadline_ms),
        can_vote,
        why_not,
        error: error.to_owned(),
        done,
    }
}

/// `?done=1` after a vote.
#[derive(Debug, Default, Deserialize)]
pub struct DetailQuery {
    done: Option<String>,
}

/// `GET /inbox/approvals/{id}`: one request, with the vote form when the
/// approver may vote.
pub async fn detail(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    q: Result<Query<DetailQuery>, QueryRejection>,
) -> Response {
    let Some(s) = session::current(&st, &headers) else {
        return Redirect::to("/inbox").into_response();
    };
    if !is_approval_id(&id) {
        return message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such approval request.",
        );
    }
    match service::get(&st, s.tenant(), &id).await {
        Ok((r, _)) => {
            let done = q.is_ok_and(|Query(q)| q.done.is_some());
            page(StatusCode::OK, &detail_page(&s, &r, "", done))
        }
        Err(e) => fault(ApiError::from(e)),
    }
}

/// The vote form.
#[derive(Debug, Deserialize)]
pub struct VoteForm {
    choice: Option<String>,
    reason: Option<String>,
    csrf: Option<String>,
}

/// `POST /inbox/approvals/{id}/vote`: approve or deny, then back to the
/// request (303), or the request again with what stopped the vote.
pub async fn vote(
    State(st): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    form: Result<Form<VoteForm>, FormRejection>,
) -> Response {
    let Some(s) = session::current(&st, &headers) else {
        return message(
            StatusCode::UNAUTHORIZED,
            "Signed out",
            "Sign in again to vote.",
        );
    };
    let Ok(Form(f)) = form else {
        return message(
            StatusCode::BAD_REQUEST,
            "Refused",
            "The form could not be read.",
        );
    };
    if !session::same_origin(&headers) || !s.csrf_ok(f.csrf.as_deref().unwrap_or_default()) {
        return message(
            StatusCode::FORBIDDEN,
            "Refused",
            "The form was not sent from this inbox.",
        );
    }
    if !is_approval_id(&id) {
        return message(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such approval request.",
        );
    }
    let choice = match f.choice.as_deref() {
        Some("approve") => Choice::Approve,
        Some("deny") => Choice::Deny,
        _ => {
            return message(
                StatusCode::BAD_REQUEST,
                "Refused",
                "Choose approve or deny.",
            );
        }
    };
    let reason = f.reason.as_deref().filter(|r| !r.contains('\0'));
    match service::vote(&st, s.tenant(), &id, &voter(&s), choice, reason).await {
        Ok(_) => harden(Redirect::to(&format!("/inbox/approvals/{id}?done=1")).into_response()),
        Err(e) => {
            let e = ApiError::from(e);
            if e.kind.status().is_server_error() {
                return fault(e);
            }
            match service::get(&st, s.tenant(), &id).await {
                Ok((r, _)) => page(e.kind.status(), &detail_page(&s, &r, &e.detail, false)),
                Err(_) => fault(e),
            }
        }
    }
}
