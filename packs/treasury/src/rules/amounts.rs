//! Rules on the size of a payment: a hard limit and an approval threshold.

use crate::payment::{
    Fallback, Limits, default_route, default_tools, describe, is_payment, magnitude, routed,
};
use serde::{Deserialize, Serialize};
use warden_sdk::{Outcome, Request, Rule, Strictness};

/// `amount-limit`: deny payments larger than the limit for their currency.
///
/// Negative amounts (refunds, reversals) are compared by their size. An
/// amount exactly at the limit passes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmountLimit {
    /// Tool patterns treated as payments (besides `financial` actions).
    pub tools: Vec<String>,
    /// The largest allowed amount per currency (`"10000.00 EUR"`).
    pub max: Limits,
    /// What to do with an amount in a currency that has no limit.
    pub unknown_currency: Fallback,
    /// Who approves escalations (`unknown_currency: "escalate"`).
    pub route: String,
}

impl Default for AmountLimit {
    fn default() -> Self {
        AmountLimit {
            tools: default_tools(),
            max: Limits::lit(&[
                "10000.00 EUR",
                "10000.00 USD",
                "8000.00 GBP",
                "10000.00 CHF",
            ]),
            unknown_currency: Fallback::Escalate,
            route: default_route(),
        }
    }
}

impl Rule for AmountLimit {
    const ID: &'static str = "amount-limit";
    const SUMMARY: &'static str = "Deny payments above the limit for their currency";
    const STRICTNESS: &'static [(&'static str, Strictness)] =
        &[("tools", Strictness::Superset), ("max", Strictness::Lower)];

    fn check(&self, req: &Request) -> Outcome {
        if !is_payment(&self.tools, req) {
            return Outcome::Pass;
        }
        let Some(amount) = &req.action.amount else {
            return Outcome::Pass;
        };
        match self.max.for_currency(&amount.currency) {
            Some(limit) if magnitude(amount).exceeds(limit) => {
                Outcome::deny(format!("{} exceeds the limit of {limit}", describe(amount)))
            }
            Some(_) => Outcome::Pass,
            None => self.unknown_currency.outcome(
                format!(
                    "no limit is configured for {}, so {} cannot be checked against one",
                    amount.currency,
                    describe(amount)
                ),
                &self.route,
            ),
        }
    }
}

/// `approval-threshold`: escalate payments above the threshold for their
/// currency to a human approver.
///
/// Negative amounts are compared by their size; an amount exactly at the
/// threshold passes; currencies without a threshold pass (`amount-limit`
/// handles them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApprovalThreshold {
    /// Tool patterns treated as payments (besides `financial` actions).
    pub tools: Vec<String>,
    /// Amounts per currency above which a human must approve.
    pub threshold: Limits,
    /// Who approves (`finance`).
    pub route: String,
}

impl Default for ApprovalThreshold {
    fn default() -> Self {
        ApprovalThreshold {
            tools: default_tools(),
            threshold: Limits::lit(&["1000.00 EUR", "1000.00 USD", "800.00 GBP", "1000.00 CHF"]),
            route: default_route(),
        }
    }
}

impl Rule for ApprovalThreshold {
    const ID: &'static str = "approval-threshold";
    const SUMMARY: &'static str = "Escalate payments above the approval threshold to a human";
    const STRICTNESS: &'static [(&'static str, Strictness)] = &[
        ("tools", Strictness::Superset),
        ("threshold", Strictness::Lower),
    ];

    fn check(&self, req: &Request) -> Outcome {
        if !is_payment(&self.tools, req) {
            return Outcome::Pass;
        }
        let Some(amount) = &req.action.amount else {
            return Outcome::Pass;
        };
        match self.threshold.for_currency(&amount.currency) {
            Some(threshold) if magnitude(amount).exceeds(threshold) => routed(
                Outcome::escalate(format!(
                    "{} is above the approval threshold of {threshold}",
                    describe(amount)
                )),
                &self.route,
            ),
            _ => Outcome::Pass,
        }
    }
}
