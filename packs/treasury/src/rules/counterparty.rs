//! Rules on who is paid: a blocklist and an allowlist.

use crate::payment::{
    Response, counterparty, default_route, default_tools, is_payment, matching_pattern,
};
use serde::{Deserialize, Serialize};
use warden_sdk::{Outcome, Request, Rule, Strictness};

/// `counterparty-blocklist`: deny payments to a blocked counterparty.
///
/// Counterparties and patterns compare case-insensitively after trimming
/// and collapsing inner whitespace; patterns may use `*` and `?`. Payments
/// without a counterparty pass (see `counterparty-allowlist`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CounterpartyBlocklist {
    /// Tool patterns treated as payments (besides `financial` actions).
    pub tools: Vec<String>,
    /// Blocked counterparties or glob patterns (`"*sanctioned*"`).
    pub blocked: Vec<String>,
}

impl Default for CounterpartyBlocklist {
    fn default() -> Self {
        CounterpartyBlocklist {
            tools: default_tools(),
            blocked: Vec::new(),
        }
    }
}

impl Rule for CounterpartyBlocklist {
    const ID: &'static str = "counterparty-blocklist";
    const SUMMARY: &'static str = "Deny payments to blocked counterparties";
    const STRICTNESS: &'static [(&'static str, Strictness)] = &[
        ("tools", Strictness::Superset),
        ("blocked", Strictness::Superset),
    ];

    fn check(&self, req: &Request) -> Outcome {
        if !is_payment(&self.tools, req) {
            return Outcome::Pass;
        }
        let Some((raw, norm)) = counterparty(req) else {
            return Outcome::Pass;
        };
        match matching_pattern(&self.blocked, &norm) {
            Some(pattern) => Outcome::deny(format!(
                "counterparty `{raw}` is blocked (matches blocklist entry `{pattern}`)"
            )),
            None => Outcome::Pass,
        }
    }
}

/// `counterparty-allowlist`: payments may only go to listed counterparties.
/// Others, and payments naming no counterparty, are escalated (or denied).
///
/// Off by default: it needs an allowlist. Matching is as for
/// `counterparty-blocklist`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CounterpartyAllowlist {
    /// Tool patterns treated as payments (besides `financial` actions).
    pub tools: Vec<String>,
    /// Approved counterparties or glob patterns.
    pub allowed: Vec<String>,
    /// What happens to a payment to an unlisted or missing counterparty.
    pub unknown: Response,
    /// Who approves escalations.
    pub route: String,
}

impl Default for CounterpartyAllowlist {
    fn default() -> Self {
        CounterpartyAllowlist {
            tools: default_tools(),
            allowed: Vec::new(),
            unknown: Response::Escalate,
            route: default_route(),
        }
    }
}

impl Rule for CounterpartyAllowlist {
    const ID: &'static str = "counterparty-allowlist";
    const SUMMARY: &'static str =
        "Escalate or deny payments to counterparties not on the allowlist";
    const DEFAULT_ENABLED: bool = false;
    const STRICTNESS: &'static [(&'static str, Strictness)] = &[
        ("tools", Strictness::Superset),
        ("allowed", Strictness::Subset),
    ];

    fn check(&self, req: &Request) -> Outcome {
        if !is_payment(&self.tools, req) {
            return Outcome::Pass;
        }
        let reason = match counterparty(req) {
            None => format!(
                "`{}` is a payment but names no counterparty, so it cannot be checked \
                 against the counterparty allowlist",
                req.action.tool
            ),
            Some((_, norm)) if matching_pattern(&self.allowed, &norm).is_some() => {
                return Outcome::Pass;
            }
            Some((raw, _)) if self.allowed.is_empty() => format!(
                "counterparty `{raw}` is not on the counterparty allowlist (the allowlist is empty)"
            ),
            Some((raw, _)) => {
                format!("counterparty `{raw}` is not on the counterparty allowlist")
            }
        };
        self.unknown.outcome(reason, &self.route)
    }
}
