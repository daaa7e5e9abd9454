//! Treasury pack (placeholder rule while the SDK settles).
use serde::{Deserialize, Serialize};
use warden_sdk::{Amount, Outcome, Request, Rule, Strictness};

/// Deny amounts above a limit.
#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AmountLimit {
    /// The limit.
    pub max: Amount,
}
impl Default for AmountLimit {
    fn default() -> Self {
        AmountLimit { max: Amount::lit("10000.00 EUR") }
    }
}
impl Rule for AmountLimit {
    const ID: &'static str = "amount-limit";
    const SUMMARY: &'static str = "Deny amounts above a limit";
    const STRICTNESS: &'static [(&'static str, Strictness)] = &[("max", Strictness::Lower)];
    fn check(&self, req: &Request) -> Outcome {
        match &req.action.amount {
            Some(m) if m.exceeds(&self.max.0) => Outcome::deny(format!("{m} exceeds {}", self.max.0)),
            _ => Outcome::Pass,
        }
    }
}

warden_sdk::pack! {
    name: "treasury",
    summary: "Spending limits",
    rules: [AmountLimit],
}
