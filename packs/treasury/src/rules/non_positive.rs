//! `non-positive-amount`: payments must move a positive amount.

use crate::payment::{default_tools, is_payment};
use serde::{Deserialize, Serialize};
use warden_sdk::{Outcome, Request, Rule, Strictness, tool_matches};

/// `non-positive-amount`: deny payments of zero or a negative amount, and
/// (with `require_amount`) payments that carry no amount at all. Tools
/// matching `exempt_tools` (refunds) may carry negative or zero amounts but
/// still need an amount when `require_amount` is on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct NonPositiveAmount {
    /// Tool patterns treated as payments (besides `financial` actions).
    pub tools: Vec<String>,
    /// Tool patterns that may carry a zero or negative amount.
    pub exempt_tools: Vec<String>,
    /// Deny a payment that carries no amount.
    pub require_amount: bool,
}

impl Default for NonPositiveAmount {
    fn default() -> Self {
        NonPositiveAmount {
            tools: default_tools(),
            exempt_tools: vec!["*.refund*".to_owned()],
            require_amount: true,
        }
    }
}

impl Rule for NonPositiveAmount {
    const ID: &'static str = "non-positive-amount";
    const SUMMARY: &'static str = "Deny payments of zero, a negative amount, or no amount";
    const STRICTNESS: &'static [(&'static str, Strictness)] = &[
        ("tools", Strictness::Superset),
        ("exempt_tools", Strictness::Subset),
        ("require_amount", Strictness::WhenTrue),
    ];

    fn check(&self, req: &Request) -> Outcome {
        if !is_payment(&self.tools, req) {
            return Outcome::Pass;
        }
        let tool = &req.action.tool;
        match &req.action.amount {
            None if self.require_amount => Outcome::deny(format!(
                "`{tool}` is a payment but carries no amount, so its size cannot be checked"
            )),
            None => Outcome::Pass,
            Some(amount) if amount.is_non_positive() && !tool_matches(&self.exempt_tools, tool) => {
                let what = if amount.minor_units == 0 {
                    "zero"
                } else {
                    "negative"
                };
                Outcome::deny(format!(
                    "the amount {amount} is {what}; `{tool}` must move a positive amount \
                     (only refund tools may carry negative amounts)"
                ))
            }
            Some(_) => Outcome::Pass,
        }
    }
}
