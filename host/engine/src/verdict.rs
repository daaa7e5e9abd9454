//! The verdict: what warden answers, and what a rule, a finding or a layer
//! says. Every other module builds on it, so it depends on nothing.

use serde::{Deserialize, Serialize};

/// What warden answers, and what a rule or finding says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// The action may run.
    Allow,
    /// A human must approve the action first.
    Escalate,
    /// The action must not run.
    Deny,
}

impl Verdict {
    /// `allow`, `escalate` or `deny`.
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Allow => "allow",
            Verdict::Escalate => "escalate",
            Verdict::Deny => "deny",
        }
    }
}
