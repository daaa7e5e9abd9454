//! # treasury
//!
//! The built-in warden pack for financial tool calls: spending limits,
//! approval thresholds, counterparty block- and allowlists, allowed
//! currencies and sanity checks on amounts.
//!
//! ## Which requests are payments
//!
//! Every rule has a `tools` parameter (glob patterns, default
//! `["payments.*", "treasury.*", "*.pay*", "*.transfer*", "*.refund*"]`). A
//! request is a payment when its safety class is `financial`, or when its
//! tool matches one of the patterns and it is not classified `read-only`
//! (reading a balance or quoting a rate moves no money). Other requests pass
//! every rule.
//!
//! ## Rules
//!
//! | id | default | verdict |
//! |----|---------|---------|
//! | `amount-limit` | on | deny above the per-currency `max` |
//! | `approval-threshold` | on | escalate above the per-currency `threshold` |
//! | `counterparty-blocklist` | on | deny payments to `blocked` counterparties |
//! | `counterparty-allowlist` | off | escalate/deny payments to counterparties not `allowed`, or to none |
//! | `currency-allowlist` | on | deny currencies not in `currencies` |
//! | `non-positive-amount` | on | deny zero, negative or missing amounts |
//!
//! Amounts are written as text, `"10000.00 EUR"`, in major units with the
//! currency's number of decimals (`"500000 JPY"`). Amount comparisons are
//! per currency: there are no exchange rates inside a pack. Negative amounts
//! (refunds, reversals) count by their size against limits and thresholds.
//! Counterparties compare case-insensitively after trimming and collapsing
//! whitespace; block- and allowlist entries may use `*` and `?`.
//!
//! The pack's `README.md` lists every parameter with its default and
//! strictness.

mod payment;
mod rules;

pub use payment::{CurrencyCode, Fallback, Limits, Response};
pub use rules::{
    AmountLimit, ApprovalThreshold, CounterpartyAllowlist, CounterpartyBlocklist,
    CurrencyAllowlist, NonPositiveAmount,
};

warden_sdk::pack! {
    name: "treasury",
    summary: "Spending limits, approval thresholds, counterparties and currencies for payment tools",
    rules: [
        AmountLimit,
        ApprovalThreshold,
        CounterpartyBlocklist,
        CounterpartyAllowlist,
        CurrencyAllowlist,
        NonPositiveAmount,
    ],
}

#[cfg(test)]
mod tests;
