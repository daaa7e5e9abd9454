//! An approval request's record and its state machine, as pure functions:
//! a vote, a deadline or a redemption takes a record to its next version
//! and says what happened, or says why it cannot. The service
//! ([`crate::approvals::service`]) stores each next version with a
//! compare-and-swap, so of two changes computed from one version only one
//! is ever stored.

use crate::approvals::policy::{AgentVotes, Approver, EscalationPolicy, OnTimeout};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use warden_host::Request;

/// Longest reason given with a vote, in characters.
pub const MAX_REASON: usize = 4096;

/// Where a request stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    /// Waiting for votes on its current step.
    Pending,
    /// Approved by its quorum, or allowed when a deadline passed where the
    /// tenant permits it (see `resolution.cause`).
    Approved,
    /// Denied by its approvers.
    Denied,
    /// Its deadline passed and it was denied for it.
    TimedOut,
}

impl Status {
    /// The word stored in the `status` column.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Approved => "approved",
            Status::Denied => "denied",
            Status::TimedOut => "timed-out",
        }
    }
}

/// A vote's choice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Choice {
    /// Let the action run.
    Approve,
    /// Do not.
    Deny,
}

/// One recorded vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Vote {
    /// `user:<sub>` or `agent:<sub>`: who voted.
    pub voter: String,
    /// The approver entry that made them eligible (`group:finance`).
    pub as_approver: String,
    /// The step (0-based) the vote was cast on.
    pub step: usize,
    /// Approve or deny.
    pub choice: Choice,
    /// Why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Whether it counted (an advisory agent's vote does not).
    pub counted: bool,
    /// When (Unix ms).
    pub at_ms: i64,
}

/// What resolved a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Cause {
    /// The approvers' votes.
    Votes,
    /// A step's deadline.
    Timeout,
}

/// How a request was resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Resolution {
    /// Approved or denied.
    pub outcome: Choice,
    /// By votes or by a deadline.
    pub cause: Cause,
    /// The step it was resolved on.
    pub step: usize,
    /// When (Unix ms).
    pub at_ms: i64,
}

/// What a downstream pack approver said about the request, evaluated when
/// the request was opened and cast as its vote whenever a step names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PackVote {
    /// Approve (the pack allowed), deny (it denied or failed closed), or
    /// `None` (it escalated or found nothing): an abstention.
    pub choice: Option<Choice>,
    /// The pack's reason.
    pub reason: String,
}

/// A redemption: the runtime's statement that it runs the approved action now.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Redemption {
    /// When (Unix ms).
    pub at_ms: i64,
    /// The redeeming token's subject.
    pub by: String,
}

/// An approval request: what was asked, how it is routed, and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRecord {
    /// Approval id.
    pub id: String,
    /// The tenant.
    pub tenant: String,
    /// The request (run) id.
    pub request_id: String,
    /// The escalated decision.
    pub decision_id: String,
    /// `sha256:` and the hex SHA-256 of the request's RFC 8785 form.
    pub request_digest: String,
    /// The configuration digest the decision was made under.
    pub configuration: String,
    /// The approval policy document's version at the escalation.
    pub policy_version: i64,
    /// The routing rule that matched; `None`: the default policy.
    pub rule: Option<String>,
    /// The escalation policy's name.
    pub policy_name: String,
    /// The escalation policy as it was at the escalation (later edits do
    /// not change a request in flight).
    pub policy: EscalationPolicy,
    /// Whether a deadline may allow this request (its safety class is listed).
    pub allow_on_timeout: bool,
    /// The request, with masked fields masked.
    pub request: Request,
    /// The escalation's reason and route hints.
    pub reason: String,
    /// Route hints of the escalating findings.
    pub routes: Vec<String>,
    /// The decision's findings, masked.
    pub findings: Value,
    /// When it was opened (Unix ms).
    pub created_ms: i64,
    /// The current step (0-based).
    pub step: usize,
    /// When the current step started (Unix ms).
    pub step_started_ms: i64,
    /// The current step's deadline (Unix ms).
    pub deadline_ms: i64,
    /// Votes so far, in order.
    pub votes: Vec<Vote>,
    /// Downstream pack approvers' verdicts on the request, by pack name.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub pack_votes: std::collections::BTreeMap<String, PackVote>,
    /// Where it stands.
    pub status: Status,
    /// How it was resolved.
    pub resolution: Option<Resolution>,
    /// Its redemption, once redeemed.
    pub redeemed: Option<Redemption>,
}

/// Most groups of a token that count for eligibility and the inbox.
pub const MAX_GROUPS: usize = 64;

/// Whether `id` looks like an approval id as the store writes them (a
/// UUID); anything else names no approval.
pub fn is_approval_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

/// Who is voting: the token's subject and groups, and whether it is an
/// agent approver's token.
#[derive(Debug, Clone)]
pub struct Voter<'a> {
    /// The token's `sub`.
    pub sub: &'a str,
    /// The token's `groups`.
    pub groups: &'a [String],
    /// An agent approver (`agent` role) rather than a person.
    pub agent: bool,
}

impl<'a> Voter<'a> {
    /// The bearer of `claims`: a person (`approver` role), or an agent
    /// approver (`agent` role without `approver`); at most [`MAX_GROUPS`] groups.
    pub fn of(claims: &'a crate::auth::Claims) -> Voter<'a> {
        use crate::auth::Role;
        Voter {
            sub: &claims.sub,
            groups: &claims.groups[..claims.groups.len().min(MAX_GROUPS)],
            agent: !claims.roles.contains(&Role::Approver) && claims.roles.contains(&Role::Agent),
        }
    }

    /// `user:<sub>` or `agent:<sub>`.
    pub fn key(&self) -> String {
        if self.agent {
            format!("agent:{}", self.sub)
        } else {
            format!("user:{}", self.sub)
        }
    }

    /// The entry of `approvers` this voter answers to, if any.
    pub fn entry<'p>(&self, approvers: &'p [Approver]) -> Option<&'p Approver> {
        approvers.iter().find(|a| match a {
            Approver::User(u) => !self.agent && u == self.sub,
            Approver::Group(g) => !self.agent && self.groups.contains(g),
            Approver::Agent(n) => self.agent && n == self.sub,
            // Packs vote through the host, never with a token.
            Approver::Pack(_) => false,
        })
    }

    /// The store's eligibility tokens this voter answers to.
    pub fn eligibility(&self) -> Vec<String> {
        if self.agent {
            return vec![format!("agent:{}", self.sub)];
        }
        std::iter::once(format!("user:{}", self.sub))
            .chain(self.groups.iter().map(|g| format!("group:{g}")))
            .collect()
    }
}

/// Why a vote is not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VoteRefused {
    /// The request is resolved already.
    #[error("approval `{0}` is already resolved")]
    Resolved(String),
    /// The current step's deadline has passed.
    #[error("the deadline of approval `{0}` has passed")]
    Late(String),
    /// The voter voted on this request before.
    #[error("`{0}` has already voted on this request")]
    Twice(String),
    /// The voter is not an approver of the current step.
    #[error("`{0}` is not an approver of this request's current step")]
    NotEligible(String),
    /// The voter is the agent that asked, or the person it acts for.
    #[error("`{0}` asked for this action and may not approve it")]
    SelfApproval(String),
    /// The policy wants a reason (a deny always does).
    #[error("a vote on this request must give a `reason`")]
    ReasonRequired,
    /// The reason is too long or holds a control character other than a
    /// tab or line break.
    #[error("`reason` must be at most {MAX_REASON} characters without control characters")]
    BadReason,
}

/// Why a redemption is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedeemRefused {
    /// The request is not approved (pending, denied or timed out).
    #[error("approval `{id}` is {status}, not approved")]
    NotApproved {
        /// The approval.
        id: String,
        /// Its status.
        status: &'static str,
    },
    /// It was redeemed before.
    #[error("approval `{0}` was already redeemed")]
    Redeemed(String),
    /// The digest is not that of the approved request.
    #[error("`request_digest` is not the digest of the request approval `{0}` approved")]
    OtherAction(String),
}

/// What a change did, for the trace log and notifications.
#[derive(Debug, Clone, PartialEq)]
pub enum Happened {
    /// A vote was recorded (at this index of `votes`).
    Voted(usize),
    /// The request moved to step `n` (0-based) after a deadline.
    StepStarted(usize),
    /// A step's deadline passed (on step `n`).
    TimedOut(usize),
    /// The request was resolved (see `resolution`).
    Resolved,
    /// The approved request was redeemed.
    Redeemed,
}

fn clean_reason(reason: Option<&str>) -> Result<Option<String>, VoteRefused> {
    match reason.map(str::trim) {
        None | Some("") => Ok(None),
        Some(r)
            if r.chars().count() <= MAX_REASON
                && !r
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\t' | '\r')) =>
        {
            Ok(Some(r.to_owned()))
        }
        Some(_) => Err(VoteRefused::BadReason),
    }
}

impl ApprovalRecord {
    /// The current step's approvers, as the store's eligibility column.
    pub fn eligible_column(&self) -> String {
        if self.status != Status::Pending {
            return String::new();
        }
        let keys: Vec<String> = self
            .policy
            .steps
            .get(self.step)
            .map(|s| s.approvers.iter().map(Approver::key).collect())
            .unwrap_or_default();
        format!(" {} ", keys.join(" "))
    }

    /// Whether `voter` may vote now (ignoring the deadline): the entry
    /// they answer to, or why not.
    pub fn eligibility<'p>(&'p self, voter: &Voter<'_>) -> Result<&'p Approver, VoteRefused> {
        if self.status != Status::Pending {
            return Err(VoteRefused::Resolved(self.id.clone()));
        }
        let step = self
            .policy
            .steps
            .get(self.step)
            .ok_or_else(|| VoteRefused::Resolved(self.id.clone()))?;
        let entry = voter
            .entry(&step.approvers)
            .ok_or_else(|| VoteRefused::NotEligible(voter.key()))?;
        let p = &self.request.principal;
        if self.policy.no_self_approval
            && (voter.sub == p.agent || p.on_behalf_of.as_deref() == Some(voter.sub))
        {
            return Err(VoteRefused::SelfApproval(voter.key()));
        }
        if self.votes.iter().any(|v| v.voter == voter.key()) {
            return Err(VoteRefused::Twice(voter.key()));
        }
        Ok(entry)
    }

    /// Records `voter`'s vote at `now` (Unix ms); the next version and
    /// what happened.
    pub fn vote(
        &self,
        voter: &Voter<'_>,
        choice: Choice,
        reason: Option<&str>,
        now: i64,
    ) -> Result<(ApprovalRecord, Vec<Happened>), VoteRefused> {
        let entry = self.eligibility(voter)?;
        if now >= self.deadline_ms {
            return Err(VoteRefused::Late(self.id.clone()));
        }
        let reason = clean_reason(reason)?;
        if reason.is_none() && (self.policy.reason_required || choice == Choice::Deny) {
            return Err(VoteRefused::ReasonRequired);
        }
        let mut next = self.clone();
        next.votes.push(Vote {
            voter: voter.key(),
            as_approver: entry.key(),
            step: self.step,
            choice,
            reason,
            counted: !voter.agent || self.policy.agent_votes == AgentVotes::Count,
            at_ms: now,
        });
        let mut happened = vec![Happened::Voted(next.votes.len() - 1)];
        if next.settle(now) {
            happened.push(Happened::Resolved);
        }
        Ok((next, happened))
    }

    /// The current step's votes of `choice` that count.
    pub fn counted(&self, choice: Choice) -> usize {
        self.votes
            .iter()
            .filter(|v| v.step == self.step && v.counted && v.choice == choice)
            .count()
    }

    /// Resolves the request if the current step's counted votes reach its
    /// denials or its quorum; whether it did.
    fn settle(&mut self, now: i64) -> bool {
        let Some(step) = self.policy.steps.get(self.step) else {
            return false;
        };
        let outcome = if self.counted(Choice::Deny) >= step.denials as usize {
            Choice::Deny
        } else if self.counted(Choice::Approve) >= step.quorum as usize {
            Choice::Approve
        } else {
            return false;
        };
        self.resolve(outcome, Cause::Votes, now);
        true
    }

    /// Casts the votes of the current step's downstream pack approvers
    /// (from `pack_votes`), once each, and resolves the request if they
    /// decide it; what happened.
    pub fn cast_pack_votes(&mut self, now: i64) -> Vec<Happened> {
        let mut happened = Vec::new();
        if self.status != Status::Pending {
            return happened;
        }
        let Some(approvers) = self
            .policy
            .steps
            .get(self.step)
            .map(|s| s.approvers.clone())
        else {
            return happened;
        };
        for a in &approvers {
            let Approver::Pack(p) = a else { continue };
            let key = a.key();
            let Some(PackVote {
                choice: Some(choice),
                reason,
            }) = self.pack_votes.get(&p.name)
            else {
                continue;
            };
            if self
                .votes
                .iter()
                .any(|v| v.voter == key && v.step == self.step)
            {
                continue;
            }
            self.votes.push(Vote {
                voter: key.clone(),
                as_approver: key,
                step: self.step,
                choice: *choice,
                reason: Some(reason.clone()).filter(|r| !r.is_empty()),
                counted: true,
                at_ms: now,
            });
            happened.push(Happened::Voted(self.votes.len() - 1));
        }
        if !happened.is_empty() && self.settle(now) {
            happened.push(Happened::Resolved);
        }
        happened
    }

    fn resolve(&mut self, outcome: Choice, cause: Cause, now: i64) {
        self.status = match (outcome, cause) {
            (Choice::Approve, _) => Status::Approved,
            (Choice::Deny, Cause::Votes) => Status::Denied,
            (Choice::Deny, Cause::Timeout) => Status::TimedOut,
        };
        self.resolution = Some(Resolution {
            outcome,
            cause,
            step: self.step,
            at_ms: now,
        });
    }

    /// The current step's deadline, if it has passed at `now`: the next
    /// version and what happened. `None`: nothing is due.
    pub fn expire(&self, now: i64) -> Option<(ApprovalRecord, Vec<Happened>)> {
        if self.status != Status::Pending || now < self.deadline_ms {
            return None;
        }
        let step = self.policy.steps.get(self.step)?;
        let mut next = self.clone();
        let mut happened = vec![Happened::TimedOut(self.step)];
        match step.on_timeout {
            OnTimeout::Next if self.step + 1 < self.policy.steps.len() => {
                next.step += 1;
                next.step_started_ms = now;
                next.deadline_ms = deadline(now, &self.policy, next.step);
                happened.push(Happened::StepStarted(next.step));
                happened.extend(next.cast_pack_votes(now));
            }
            OnTimeout::Allow if self.allow_on_timeout => {
                next.resolve(Choice::Approve, Cause::Timeout, now);
                happened.push(Happened::Resolved);
            }
            _ => {
                next.resolve(Choice::Deny, Cause::Timeout, now);
                happened.push(Happened::Resolved);
            }
        }
        Some((next, happened))
    }

    /// Redeems the approved request for the action of `digest`.
    pub fn redeem(
        &self,
        digest: &str,
        by: &str,
        now: i64,
    ) -> Result<ApprovalRecord, RedeemRefused> {
        if self.status != Status::Approved {
            return Err(RedeemRefused::NotApproved {
                id: self.id.clone(),
                status: self.status.as_str(),
            });
        }
        if self.redeemed.is_some() {
            return Err(RedeemRefused::Redeemed(self.id.clone()));
        }
        if digest != self.request_digest {
            return Err(RedeemRefused::OtherAction(self.id.clone()));
        }
        let mut next = self.clone();
        next.redeemed = Some(Redemption {
            at_ms: now,
            by: by.to_owned(),
        });
        Ok(next)
    }
}

/// The deadline of `policy`'s step `step` started at `start` (Unix ms).
pub fn deadline(start: i64, policy: &EscalationPolicy, step: usize) -> i64 {
    let sla = policy.steps.get(step).map(|s| s.sla()).unwrap_or_default();
    start.saturating_add(i64::try_from(sla.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(policy: serde_json::Value, allow_on_timeout: bool) -> ApprovalRecord {
        let policy: EscalationPolicy = serde_json::from_value(policy).unwrap();
        ApprovalRecord {
            id: "a".into(),
            tenant: "t".into(),
            request_id: "r".into(),
            decision_id: "d".into(),
            request_digest: "sha256:x".into(),
            configuration: "sha256:c".into(),
            policy_version: 1,
            rule: None,
            policy_name: "p".into(),
            deadline_ms: deadline(0, &policy, 0),
            policy,
            allow_on_timeout,
            request: serde_json::from_value(json!({
                "id": "r", "tenant": "t",
                "principal": {"agent": "bot", "on_behalf_of": "carl"},
                "action": {"tool": "pay", "safety_class": "financial"}}))
            .unwrap(),
            reason: String::new(),
            routes: vec![],
            findings: json!([]),
            created_ms: 0,
            step: 0,
            step_started_ms: 0,
            votes: vec![],
            pack_votes: Default::default(),
            status: Status::Pending,
            resolution: None,
            redeemed: None,
        }
    }

    fn person<'a>(sub: &'a str, groups: &'a [String]) -> Voter<'a> {
        Voter {
            sub,
            groups,
            agent: false,
        }
    }

    #[test]
    fn an_allow_on_timeout_the_tenant_does_not_permit_denies() {
        let p =
            json!({"steps": [{"approvers": [{"user": "a"}], "sla": "1s", "on_timeout": "allow"}]});
        let (next, _) = record(p.clone(), false).expire(1000).unwrap();
        assert_eq!(next.status, Status::TimedOut);
        let (next, _) = record(p, true).expire(1000).unwrap();
        assert_eq!(next.status, Status::Approved);
        assert_eq!(next.resolution.unwrap().cause, Cause::Timeout);
    }

    #[test]
    fn nothing_is_due_before_the_deadline_or_once_resolved() {
        let p = json!({"steps": [{"approvers": [{"user": "a"}], "sla": "1s"}]});
        let r = record(p, false);
        assert!(r.expire(999).is_none());
        let (done, happened) = r.expire(1000).unwrap();
        assert_eq!(happened, [Happened::TimedOut(0), Happened::Resolved]);
        assert!(done.expire(5000).is_none());
    }

    #[test]
    fn a_vote_at_the_deadline_is_late() {
        let p = json!({"steps": [{"approvers": [{"user": "a"}], "sla": "1s"}]});
        let r = record(p, false);
        let none: Vec<String> = vec![];
        assert!(
            r.vote(&person("a", &none), Choice::Approve, None, 999)
                .is_ok()
        );
        assert_eq!(
            r.vote(&person("a", &none), Choice::Approve, None, 1000)
                .unwrap_err(),
            VoteRefused::Late("a".into())
        );
    }

    #[test]
    fn denials_threshold_and_self_approval_options() {
        let groups = vec!["g".to_owned()];
        let p = json!({"no_self_approval": false, "steps": [{"approvers": [{"group": "g"}], "quorum": 3, "denials": 2, "sla": "1h"}]});
        let r = record(p, false);
        // Carl asked, but this policy lets him vote.
        let (r, _) = r
            .vote(&person("carl", &groups), Choice::Deny, Some("no"), 1)
            .unwrap();
        assert_eq!(r.status, Status::Pending, "one deny of two needed");
        let (r, _) = r
            .vote(&person("dora", &groups), Choice::Deny, Some("no"), 2)
            .unwrap();
        assert_eq!(r.status, Status::Denied);
        let p = json!({"steps": [{"approvers": [{"group": "g"}], "sla": "1h"}]});
        let r = record(p, false);
        for who in ["carl", "bot"] {
            assert_eq!(
                r.vote(&person(who, &groups), Choice::Approve, None, 1)
                    .unwrap_err(),
                VoteRefused::SelfApproval(format!("user:{who}"))
            );
        }
    }

    #[test]
    fn redemption_needs_approval_the_same_digest_and_happens_once() {
        let p = json!({"steps": [{"approvers": [{"user": "a"}], "sla": "1h"}]});
        let r = record(p, false);
        assert!(matches!(
            r.redeem("sha256:x", "rt", 1),
            Err(RedeemRefused::NotApproved { .. })
        ));
        let none: Vec<String> = vec![];
        let (r, _) = r
            .vote(&person("a", &none), Choice::Approve, None, 1)
            .unwrap();
        assert!(matches!(
            r.redeem("sha256:y", "rt", 2),
            Err(RedeemRefused::OtherAction(_))
        ));
        let r = r.redeem("sha256:x", "rt", 2).unwrap();
        assert!(matches!(
            r.redeem("sha256:x", "rt", 3),
            Err(RedeemRefused::Redeemed(_))
        ));
    }
}
