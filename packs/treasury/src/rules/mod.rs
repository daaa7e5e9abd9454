//! The pack's rules, one type per rule.

mod amounts;
mod counterparty;
mod currency;
mod non_positive;

pub use amounts::{AmountLimit, ApprovalThreshold};
pub use counterparty::{CounterpartyAllowlist, CounterpartyBlocklist};
pub use currency::CurrencyAllowlist;
pub use non_positive::NonPositiveAmount;
