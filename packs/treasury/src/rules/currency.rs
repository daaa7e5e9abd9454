//! `currency-allowlist`: only pay in currencies the organisation uses.

use crate::payment::{CurrencyCode, default_tools, describe, is_payment};
use serde::{Deserialize, Serialize};
use warden_sdk::{Outcome, Request, Rule, Strictness};

/// `currency-allowlist`: deny payments in a currency not on the list.
///
/// Codes compare case-insensitively. Payments without an amount pass
/// (`non-positive-amount` handles them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CurrencyAllowlist {
    /// Tool patterns treated as payments (besides `financial` actions).
    pub tools: Vec<String>,
    /// Allowed ISO 4217 codes.
    pub currencies: Vec<CurrencyCode>,
}

impl Default for CurrencyAllowlist {
    fn default() -> Self {
        CurrencyAllowlist {
            tools: default_tools(),
            currencies: CurrencyCode::list(&["EUR", "USD", "GBP", "CHF"]),
        }
    }
}

impl Rule for CurrencyAllowlist {
    const ID: &'static str = "currency-allowlist";
    const SUMMARY: &'static str = "Deny payments in currencies not on the allowlist";
    const STRICTNESS: &'static [(&'static str, Strictness)] = &[
        ("tools", Strictness::Superset),
        ("currencies", Strictness::Subset),
    ];

    fn check(&self, req: &Request) -> Outcome {
        if !is_payment(&self.tools, req) {
            return Outcome::Pass;
        }
        let Some(amount) = &req.action.amount else {
            return Outcome::Pass;
        };
        let currency = amount.currency.trim();
        if self
            .currencies
            .iter()
            .any(|c| c.as_str().eq_ignore_ascii_case(currency))
        {
            return Outcome::Pass;
        }
        let allowed = if self.currencies.is_empty() {
            "none".to_owned()
        } else {
            self.currencies
                .iter()
                .map(CurrencyCode::as_str)
                .collect::<Vec<_>>()
                .join(", ")
        };
        Outcome::deny(format!(
            "{} is in currency `{currency}`, which is not allowed (allowed: {allowed})",
            describe(amount)
        ))
    }
}
