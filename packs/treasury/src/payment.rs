//! What the rules share: deciding whether a request is a payment, reading
//! counterparties and amounts, and the parameter types several rules use.

use serde::{Deserialize, Serialize};
use warden_sdk::{Amount, Money, Outcome, Request, SafetyClass, glob_match, tool_matches};

/// The tool patterns every rule treats as payments unless its `tools`
/// parameter says otherwise.
pub(crate) fn default_tools() -> Vec<String> {
    [
        "payments.*",
        "treasury.*",
        "*.pay*",
        "*.transfer*",
        "*.refund*",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect()
}

/// Whether `req` is a payment for a rule whose `tools` parameter is `tools`:
/// its safety class is `financial`, or its tool matches one of the patterns
/// and the runtime did not classify it `read-only` (reading a balance or
/// quoting a rate moves no money).
pub(crate) fn is_payment(tools: &[String], req: &Request) -> bool {
    match req.action.safety_class {
        SafetyClass::Financial => true,
        SafetyClass::ReadOnly => false,
        _ => tool_matches(tools, &req.action.tool),
    }
}

/// Text with its whitespace tidied: trimmed, every inner run of whitespace
/// (line breaks included) collapsed to one space.
pub(crate) fn tidy(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A counterparty or counterparty pattern in the form rules compare:
/// [`tidy`], then lower case.
pub(crate) fn normalize(text: &str) -> String {
    tidy(text).to_lowercase()
}

/// The request's counterparty, tidied for showing in a reason, and
/// normalized for comparing; `None` when it is absent or blank.
pub(crate) fn counterparty(req: &Request) -> Option<(String, String)> {
    let shown = tidy(req.action.counterparty.as_deref()?);
    let norm = shown.to_lowercase();
    (!norm.is_empty()).then_some((shown, norm))
}

/// The first of `patterns` (globs, compared after [`normalize`]) that
/// matches the normalized counterparty.
pub(crate) fn matching_pattern<'p>(patterns: &'p [String], normalized: &str) -> Option<&'p str> {
    patterns
        .iter()
        .find(|p| glob_match(&normalize(p), normalized))
        .map(String::as_str)
}

/// The size of an amount, whichever way the money moves.
pub(crate) fn magnitude(amount: &Money) -> Money {
    Money::new(
        amount.minor_units.checked_abs().unwrap_or(i64::MAX),
        amount.currency.clone(),
    )
}

/// An amount as an approver should read it in a reason: negative amounts
/// are refunds or reversals and are described by their size.
pub(crate) fn describe(amount: &Money) -> String {
    if amount.minor_units < 0 {
        format!("a refund/reversal of {}", magnitude(amount))
    } else {
        amount.to_string()
    }
}

/// Adds a route hint unless the configured route is blank.
pub(crate) fn routed(outcome: Outcome, route: &str) -> Outcome {
    if route.trim().is_empty() {
        outcome
    } else {
        outcome.route(route.trim())
    }
}

/// Per-currency amounts written as `["10000.00 EUR", "8000.00 GBP"]`. None
/// may be negative; when a currency is listed twice the lower amount
/// applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Amount>", into = "Vec<Amount>")]
pub struct Limits(Vec<Amount>);

impl Limits {
    /// Limits from amount literals known to be valid (for defaults).
    pub(crate) fn lit(amounts: &[&str]) -> Limits {
        Limits(amounts.iter().map(|a| Amount::lit(a)).collect())
    }

    /// The (lowest) amount listed for `currency`, compared case-insensitively.
    pub fn for_currency(&self, currency: &str) -> Option<&Money> {
        self.0
            .iter()
            .map(|a| &a.0)
            .filter(|m| m.currency.eq_ignore_ascii_case(currency))
            .min_by_key(|m| m.minor_units)
    }
}

impl TryFrom<Vec<Amount>> for Limits {
    type Error = String;

    fn try_from(amounts: Vec<Amount>) -> Result<Self, String> {
        match amounts.iter().find(|a| a.0.minor_units < 0) {
            Some(a) => Err(format!("`{}` is negative; limits must be 0 or more", a.0)),
            None => Ok(Limits(amounts)),
        }
    }
}

impl From<Limits> for Vec<Amount> {
    fn from(limits: Limits) -> Self {
        limits.0
    }
}

/// An ISO 4217 currency code, accepted in any case and stored upper case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CurrencyCode(String);

impl CurrencyCode {
    /// The upper case code.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn list(codes: &[&str]) -> Vec<CurrencyCode> {
        codes
            .iter()
            .map(|c| CurrencyCode((*c).to_owned()))
            .collect()
    }
}

impl TryFrom<String> for CurrencyCode {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let code = text.trim().to_ascii_uppercase();
        if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
            Ok(CurrencyCode(code))
        } else {
            Err(format!(
                "`{text}` is not an ISO 4217 currency code (three letters, like `EUR`)"
            ))
        }
    }
}

impl From<CurrencyCode> for String {
    fn from(code: CurrencyCode) -> Self {
        code.0
    }
}

/// What a rule does with a payment it cannot judge on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Fallback {
    /// Forbid the payment.
    Deny,
    /// Ask a human to approve it.
    Escalate,
    /// Say nothing.
    Pass,
}

impl Fallback {
    /// The outcome for `reason`, routed to `route` when escalated.
    pub(crate) fn outcome(self, reason: String, route: &str) -> Outcome {
        match self {
            Fallback::Deny => Outcome::deny(reason),
            Fallback::Escalate => routed(Outcome::escalate(reason), route),
            Fallback::Pass => Outcome::Pass,
        }
    }
}

/// What a rule does with a payment that fails its check: escalate or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Response {
    /// Forbid the payment.
    Deny,
    /// Ask a human to approve it.
    Escalate,
}

impl Response {
    /// The outcome for `reason`, routed to `route` when escalated.
    pub(crate) fn outcome(self, reason: String, route: &str) -> Outcome {
        match self {
            Response::Deny => Outcome::deny(reason),
            Response::Escalate => routed(Outcome::escalate(reason), route),
        }
    }
}

/// The default route hint for escalations.
pub(crate) fn default_route() -> String {
    "finance".to_owned()
}
