//! Decisions: combining findings into one verdict, and the explanation that
//! says why.

use crate::layers::EffectiveRule;
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// The rule id of findings the host makes itself when a pack fails.
pub const PACK_FAILURE_RULE: &str = "warden:pack-failure";

/// Rule id of the host's fail-closed finding when a decision could not be
/// evaluated because the tenant's (or the server's) evaluation queue is full.
pub const OVERLOADED_RULE: &str = "warden:overloaded";

/// One finding, with the pack that made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingRecord {
    /// Pack name.
    pub pack: String,
    /// Pack version.
    pub version: String,
    /// Pack digest (`sha256:...`).
    pub digest: String,
    /// Rule id, or [`PACK_FAILURE_RULE`] for a host-made fail-closed finding.
    pub rule: String,
    /// The verdict after override layers.
    pub verdict: Verdict,
    /// The verdict the pack returned, when a layer replaced it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pack_verdict: Option<Verdict>,
    /// The layer that replaced the verdict.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verdict_by: Option<String>,
    /// Why.
    pub reason: String,
    /// Approver routing hint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Whether the host made this finding because the pack failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub fail_closed: bool,
}

/// How one pack ran for one decision.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackRun {
    /// Pack name.
    pub pack: String,
    /// Pack version.
    pub version: String,
    /// Pack digest.
    pub digest: String,
    /// `ok`, or what went wrong.
    pub status: String,
    /// Wall time of the call, including instantiation, in nanoseconds.
    pub elapsed_ns: u64,
    /// Whether a pooled instance was reused.
    pub reused_instance: bool,
    /// The effective settings of each rule and the layer that set them.
    /// Left out of serialized output when empty (a server answering without
    /// settings; see `explain` on `POST /v1/tenants/{t}/evaluate`).
    #[serde(default, skip_serializing_if = "no_settings")]
    pub settings: Arc<Vec<EffectiveRule>>,
}

/// How a [`PackRun`]'s status begins when the pack did not run because it
/// is quarantined for the tenant ([`crate::Breakers`]).
pub const QUARANTINED_STATUS: &str = "quarantined: ";

impl PackRun {
    /// Whether the pack did not run because it is quarantined.
    pub fn is_quarantined(&self) -> bool {
        self.status.starts_with(QUARANTINED_STATUS)
    }
}

fn no_settings(s: &Arc<Vec<EffectiveRule>>) -> bool {
    s.is_empty()
}

/// Why the decision is what it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Explanation {
    /// `findings` when findings decided, `default-effect` when none applied.
    pub basis: Basis,
    /// Every finding of every pack, in composition order.
    pub findings: Vec<FindingRecord>,
    /// Each pack's run: version, digest, timing, settings.
    pub packs: Vec<PackRun>,
    /// Names of the override layers applied, least specific first.
    pub layers: Arc<Vec<String>>,
}

/// What decided the verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    /// At least one finding applied.
    Findings,
    /// No rule applied; the composition's default effect decided.
    DefaultEffect,
}

/// The answer to a request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The request's id.
    pub request_id: String,
    /// The tenant.
    pub tenant: String,
    /// Allow, deny or escalate.
    pub verdict: Verdict,
    /// For escalations: the routing hints of the escalating findings, deduplicated.
    pub routes: Vec<String>,
    /// One line for humans: the deciding findings' reasons.
    pub reason: String,
    /// The full explanation.
    pub explanation: Explanation,
}

impl Decision {
    /// Exit-code style number: 0 allow, 1 deny, 2 escalate.
    pub fn exit_code(&self) -> i32 {
        match self.verdict {
            Verdict::Allow => 0,
            Verdict::Deny => 1,
            Verdict::Escalate => 2,
        }
    }
}

/// Combines findings: any deny wins, else any escalate, else allow if any
/// rule allowed; with no findings at all, `default_effect`.
pub fn combine(findings: &[FindingRecord], default_effect: Verdict) -> (Verdict, Basis) {
    if findings.is_empty() {
        return (default_effect, Basis::DefaultEffect);
    }
    let verdict = findings
        .iter()
        .map(|f| f.verdict)
        .max()
        .unwrap_or(default_effect);
    (verdict, Basis::Findings)
}

/// Routing hints of the findings with this verdict, deduplicated, in order.
pub(crate) fn routes(findings: &[FindingRecord], verdict: Verdict) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    if verdict != Verdict::Escalate {
        return out;
    }
    for f in findings.iter().filter(|f| f.verdict == verdict) {
        if let Some(r) = &f.route
            && !out.contains(r)
        {
            out.push(r.clone());
        }
    }
    out
}

/// The one-line reason: the reasons of the findings that decided.
pub(crate) fn summary(findings: &[FindingRecord], verdict: Verdict, basis: Basis) -> String {
    if basis == Basis::DefaultEffect {
        return format!(
            "no rule applied; the composition's default effect is `{}`",
            verdict.as_str()
        );
    }
    let deciding: Vec<String> = findings
        .iter()
        .filter(|f| f.verdict == verdict)
        .map(|f| format!("{}/{}: {}", f.pack, f.rule, f.reason))
        .collect();
    deciding.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(v: Verdict, route: Option<&str>) -> FindingRecord {
        FindingRecord {
            pack: "p".into(),
            version: "1.0.0".into(),
            digest: "sha256:0".into(),
            rule: "r".into(),
            verdict: v,
            pack_verdict: None,
            verdict_by: None,
            reason: v.as_str().into(),
            route: route.map(Into::into),
            fail_closed: false,
        }
    }

    #[test]
    fn deny_beats_escalate_beats_allow() {
        use Verdict::*;
        let all = [f(Allow, None), f(Escalate, Some("finance")), f(Deny, None)];
        assert_eq!(combine(&all, Allow), (Deny, Basis::Findings));
        assert_eq!(combine(&all[..2], Deny), (Escalate, Basis::Findings));
        assert_eq!(combine(&all[..1], Deny), (Allow, Basis::Findings));
        assert_eq!(combine(&[], Deny), (Deny, Basis::DefaultEffect));
        assert_eq!(combine(&[], Allow), (Allow, Basis::DefaultEffect));
    }

    #[test]
    fn routes_are_deduplicated_in_order() {
        use Verdict::*;
        let all = [
            f(Escalate, Some("finance")),
            f(Escalate, Some("security")),
            f(Escalate, Some("finance")),
            f(Allow, Some("ignored")),
        ];
        assert_eq!(routes(&all, Escalate), vec!["finance", "security"]);
        assert!(routes(&all, Deny).is_empty());
    }
}
