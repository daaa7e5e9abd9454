//! Approvals against the store: opening a request with its escalated
//! decision, the policy document, and every later change (a vote, a
//! deadline, a redemption) as a compare-and-swap of the record that
//! commits with its trace events. A change that loses a race is computed
//! again from the record that won, so it is refused for the right reason
//! (resolved, late, twice) rather than lost or applied twice.

use crate::approvals::error::ApprovalError;
use crate::approvals::policy::{ApprovalPolicy, TenantApprovals};
use crate::approvals::record::{
    ApprovalRecord, Choice, Happened, PackVote, Status, Voter, deadline,
};
use crate::approvals::webhooks;
use crate::state::AppState;
use crate::trace_log::events::{self, audit};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use utoipa::ToSchema;
use warden_host::{Decision, Request};
use warden_store::{ApprovalRow, NewEvent, OutboxRow, Saved, StoreError, now_ms};

/// Changes of one request computed again after losing a race, at most.
const RETRIES: usize = 16;

/// Event kinds of the approval lifecycle.
pub mod kind {
    /// An escalation opened an approval request (with its routing).
    pub const REQUESTED: &str = "approval-requested";
    /// A step started: its approvers and deadline.
    pub const STEP_STARTED: &str = "approval-step-started";
    /// A vote was recorded.
    pub const VOTE: &str = "approval-vote";
    /// A step's deadline passed.
    pub const TIMED_OUT: &str = "approval-timed-out";
    /// The request was resolved: approved or denied, by votes or a deadline.
    pub const RESOLVED: &str = "approval-resolved";
    /// The approved action was redeemed by the runtime.
    pub const REDEEMED: &str = "approval-redeemed";
    /// The approval policy document changed (admin event).
    pub const POLICY_CHANGED: &str = "approval-policy-changed";
}

/// What a decision response says about the approval request it opened.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize, ToSchema)]
pub struct ApprovalRef {
    /// The approval request's id.
    pub id: String,
    /// `pending` when opened.
    pub status: Status,
    /// The escalation policy it was routed to.
    pub policy: String,
    /// The first step's deadline (RFC 3339).
    pub deadline: String,
    /// What to present when redeeming an approval: `sha256:` and the hex
    /// SHA-256 of the request's RFC 8785 (JCS) form.
    pub request_digest: String,
}

/// Unix milliseconds as RFC 3339.
fn rfc3339(ms: i64) -> String {
    let t =
        std::time::UNIX_EPOCH + std::time::Duration::from_millis(u64::try_from(ms).unwrap_or(0));
    humantime::format_rfc3339_millis(t).to_string()
}

/// `sha256:` and the hex SHA-256 of `req`'s canonical (RFC 8785) JSON.
pub fn request_digest(req: &Request) -> Result<String, StoreError> {
    let bytes =
        crate::trace::canonical("request", req).map_err(|e| warden_store::corrupt("request", e))?;
    Ok(format!("sha256:{}", hex::encode(Sha256::digest(&bytes))))
}

/// An approval request to open with an escalated decision: the row and the
/// events that go into the decision's transaction.
#[derive(Debug, Clone)]
pub struct Opening {
    /// The row to insert.
    pub row: ApprovalRow,
    /// `approval-requested` and `approval-step-started`.
    pub events: Vec<NewEvent>,
    /// Its `approval.requested` notifications.
    pub outbox: Vec<OutboxRow>,
    /// What the decision response says.
    pub reference: ApprovalRef,
}

/// What an escalated decision opens under `approvals`: `req` as sent,
/// `stored` after masking, `decision` masked.
pub fn open(
    approvals: &TenantApprovals,
    req: &Request,
    stored: &Request,
    decision: &Decision,
    decision_id: &str,
    configuration: &str,
    pack_votes: &dyn Fn(&ApprovalRecord) -> BTreeMap<String, PackVote>,
) -> Result<Option<Opening>, StoreError> {
    let Some(routed) = approvals.policy.route(req, &decision.routes) else {
        return Ok(None);
    };
    let now = now_ms();
    let mut record = ApprovalRecord {
        id: uuid::Uuid::now_v7().to_string(),
        tenant: req.tenant.clone(),
        request_id: req.id.clone(),
        decision_id: decision_id.to_owned(),
        request_digest: request_digest(req)?,
        configuration: configuration.to_owned(),
        policy_version: approvals.version,
        rule: routed.rule.map(str::to_owned),
        policy_name: routed.policy_name.to_owned(),
        policy: routed.policy.clone(),
        allow_on_timeout: approvals
            .policy
            .allow_on_timeout
            .contains(&req.action.safety_class),
        request: stored.clone(),
        reason: decision.reason.clone(),
        routes: decision.routes.clone(),
        findings: serde_json::to_value(&decision.explanation.findings)
            .map_err(|e| warden_store::corrupt("findings", e))?,
        created_ms: now,
        step: 0,
        step_started_ms: now,
        deadline_ms: deadline(now, routed.policy, 0),
        votes: Vec::new(),
        pack_votes: BTreeMap::new(),
        status: Status::Pending,
        resolution: None,
        redeemed: None,
    };
    let requested = event(
        &record,
        kind::REQUESTED,
        json!({
            "request_digest": record.request_digest,
            "configuration": record.configuration,
            "policy_version": record.policy_version,
            "rule": record.rule,
            "policy": record.policy_name,
        }),
    )?;
    let step = step_event(&record)?;
    // Downstream pack approvers judge the request now, while it is at
    // hand unmasked; the first step's packs vote at once.
    record.pack_votes = pack_votes(&record);
    let happened = record.cast_pack_votes(now);
    let mut events = vec![requested, step];
    events.extend(events_of(&record, &happened)?);
    let resolved = happened.contains(&Happened::Resolved);
    let reference = ApprovalRef {
        id: record.id.clone(),
        status: record.status,
        policy: record.policy_name.clone(),
        deadline: rfc3339(record.deadline_ms),
        request_digest: record.request_digest.clone(),
    };
    let mut outbox = webhooks::outbox_for(&record, webhooks::event::REQUESTED);
    if resolved {
        outbox.extend(webhooks::outbox_for(&record, webhooks::event::RESOLVED));
    }
    Ok(Some(Opening {
        row: row_of(&record, 1)?,
        events,
        outbox,
        reference,
    }))
}

fn row_of(r: &ApprovalRecord, version: i64) -> Result<ApprovalRow, StoreError> {
    Ok(ApprovalRow {
        id: r.id.clone(),
        tenant: r.tenant.clone(),
        request_id: r.request_id.clone(),
        decision_id: r.decision_id.clone(),
        status: r.status.as_str().to_owned(),
        deadline_ms: (r.status == Status::Pending).then_some(r.deadline_ms),
        eligible: r.eligible_column(),
        version,
        created_ms: r.created_ms,
        updated_ms: now_ms(),
        doc: serde_json::to_string(r).map_err(|e| warden_store::corrupt("approval", e))?,
    })
}

/// The record a row holds.
pub fn record_of(row: &ApprovalRow) -> Result<ApprovalRecord, StoreError> {
    serde_json::from_str(&row.doc).map_err(|e| warden_store::corrupt("approval", e))
}

/// An approval event of `kind` about `r`, found by its run and decision.
fn event(r: &ApprovalRecord, kind: &str, detail: Value) -> Result<NewEvent, StoreError> {
    let mut body = json!({
        "approval_id": r.id,
        "request_id": r.request_id,
        "decision_id": r.decision_id,
    });
    if let (Some(b), Value::Object(d)) = (body.as_object_mut(), detail) {
        b.extend(d);
    }
    let index = warden_store::EventIndex {
        agent: Some(r.request.principal.agent.clone()),
        tool: Some(r.request.action.tool.clone()),
        verdict: None,
        decision_id: Some(r.decision_id.clone()),
        request_id: Some(r.request_id.clone()),
        packs: Vec::new(),
    };
    Ok(events::new_event(events::class_of(&r.request), kind, &body)?.with_index(index))
}

fn step_event(r: &ApprovalRecord) -> Result<NewEvent, StoreError> {
    let approvers: Vec<String> = r.policy.steps[r.step]
        .approvers
        .iter()
        .map(|a| a.key())
        .collect();
    event(
        r,
        kind::STEP_STARTED,
        json!({"step": r.step, "approvers": approvers,
               "deadline": rfc3339(r.deadline_ms)}),
    )
}

fn events_of(next: &ApprovalRecord, happened: &[Happened]) -> Result<Vec<NewEvent>, StoreError> {
    happened
        .iter()
        .map(|h| match h {
            Happened::Voted(i) => event(next, kind::VOTE, json!({"vote": next.votes.get(*i)})),
            Happened::StepStarted(_) => step_event(next),
            Happened::TimedOut(step) => event(next, kind::TIMED_OUT, json!({"step": step})),
            Happened::Resolved => event(
                next,
                kind::RESOLVED,
                json!({"status": next.status, "resolution": next.resolution}),
            ),
            Happened::Redeemed => event(
                next,
                kind::REDEEMED,
                json!({"by": next.redeemed.as_ref().map(|r| &r.by),
                       "request_digest": next.request_digest}),
            ),
        })
        .collect()
}

/// The tenant's stored approval policy and its version.
pub async fn policy(st: &AppState, tenant: &str) -> Result<Option<TenantApprovals>, StoreError> {
    match st.store().approval_policy(tenant).await? {
        Some((version, doc)) => TenantApprovals::stored(version, &doc).map(Some),
        None => Ok(None),
    }
}

/// Replaces the tenant's approval policy if it is still at `expected`
/// (0: none saved yet); validated first. The new version.
pub async fn save_policy(
    st: &AppState,
    tenant: &str,
    actor: &str,
    expected: i64,
    doc: &ApprovalPolicy,
) -> Result<i64, ApprovalError> {
    doc.validate()?;
    st.tenant_row(tenant).await?;
    // Every downstream pack approver must resolve and build, as it would
    // in a composition.
    for (field, r) in doc.packs() {
        st.build(tenant, &crate::state::approver_doc(r))
            .await
            .map_err(|e| {
                crate::tenants::settings_error::SettingsError::new(field, e.to_string())
            })?;
    }
    let text =
        serde_json::to_string(doc).map_err(|e| warden_store::corrupt("approval policy", e))?;
    let change = audit(
        tenant,
        kind::POLICY_CHANGED,
        actor,
        json!({"version": expected + 1, "policy": doc}),
    )?;
    let saved = st
        .store()
        .save_approval_policy(tenant, expected, &text, &change)
        .await?;
    match saved {
        Saved::Ok(v) => {
            st.refresh().await?;
            Ok(v)
        }
        Saved::Stale(current) => Err(ApprovalError::Stale {
            tenant: tenant.to_owned(),
            expected,
            current,
        }),
        Saved::NotFound => Err(ApprovalError::State(
            crate::state::StateError::TenantNotFound(tenant.to_owned()),
        )),
    }
}

/// One approval request of `tenant`, with its stored version.
pub async fn get(
    st: &AppState,
    tenant: &str,
    id: &str,
) -> Result<(ApprovalRecord, i64), ApprovalError> {
    let row = st
        .store()
        .approval(tenant, id)
        .await?
        .ok_or_else(|| ApprovalError::NotFound(id.to_owned()))?;
    Ok((record_of(&row)?, row.version))
}

/// Applies `change` to the current record of `id` and stores the result,
/// again from the winner's record if another change won meanwhile.
/// `Ok(None)`: `change` found nothing to do.
async fn transition<E>(
    st: &AppState,
    tenant: &str,
    id: &str,
    mut change: impl FnMut(&ApprovalRecord) -> Result<Option<(ApprovalRecord, Vec<Happened>)>, E>,
) -> Result<Option<ApprovalRecord>, ApprovalError>
where
    ApprovalError: From<E>,
{
    for _ in 0..RETRIES {
        let (current, version) = get(st, tenant, id).await?;
        let Some((next, happened)) = change(&current)? else {
            return Ok(None);
        };
        let events = events_of(&next, &happened)?;
        let outbox: Vec<OutboxRow> = happened
            .iter()
            .flat_map(|h| match h {
                Happened::StepStarted(_) => webhooks::outbox_for(&next, webhooks::event::STEP),
                Happened::Resolved => webhooks::outbox_for(&next, webhooks::event::RESOLVED),
                _ => Vec::new(),
            })
            .collect();
        let swapped = st
            .appender()
            .transition(tenant, row_of(&next, version + 1)?, events, outbox)
            .await
            .map_err(ApprovalError::NotRecorded)?;
        if swapped {
            st.waiters().wake(id);
            return Ok(Some(next));
        }
    }
    Err(ApprovalError::Contended(id.to_owned()))
}

/// Records `voter`'s vote on approval `id`; the record after it.
pub async fn vote(
    st: &AppState,
    tenant: &str,
    id: &str,
    voter: &Voter<'_>,
    choice: Choice,
    reason: Option<&str>,
) -> Result<ApprovalRecord, ApprovalError> {
    transition(st, tenant, id, |r| {
        r.vote(voter, choice, reason, now_ms()).map(Some)
    })
    .await?
    .ok_or_else(|| ApprovalError::NotFound(id.to_owned()))
}

/// Fires approval `id`'s deadline if it has passed: `true` if this call
/// fired it (exactly one caller does, across servers).
pub async fn expire(st: &AppState, tenant: &str, id: &str) -> Result<bool, ApprovalError> {
    let fired = transition(st, tenant, id, |r| {
        Ok::<_, ApprovalError>(r.expire(now_ms()))
    })
    .await?;
    Ok(fired.is_some())
}

/// Redeems approved request `id` for the action whose digest is `digest`.
pub async fn redeem(
    st: &AppState,
    tenant: &str,
    id: &str,
    digest: &str,
    by: &str,
) -> Result<ApprovalRecord, ApprovalError> {
    transition(st, tenant, id, |r| {
        r.redeem(digest, by, now_ms())
            .map(|next| Some((next, vec![Happened::Redeemed])))
    })
    .await?
    .ok_or_else(|| ApprovalError::NotFound(id.to_owned()))
}

/// Waits until approval `id` is no longer pending or `timeout` passes;
/// the record then. Woken by each change ([`crate::approvals::waiters`]),
/// so a waiter costs the database a read per change of its request, not
/// per second, however long it waits.
pub async fn wait(
    st: &AppState,
    tenant: &str,
    id: &str,
    timeout: std::time::Duration,
) -> Result<ApprovalRecord, ApprovalError> {
    let end = tokio::time::Instant::now() + timeout;
    let wake = st.waiters().subscribe(id);
    loop {
        let notified = wake.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        {
            // Not kept while parked: a record holds the whole request, and
            // thousands of waiters would hold thousands of them.
            let (record, _) = get(st, tenant, id).await?;
            if record.status != Status::Pending || tokio::time::Instant::now() >= end {
                return Ok(record);
            }
        }
        if tokio::time::timeout_at(end, notified).await.is_err() {
            return Ok(get(st, tenant, id).await?.0);
        }
    }
}
