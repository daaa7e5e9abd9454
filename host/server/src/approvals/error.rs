//! What can go wrong with approvals, as data: the HTTP layer
//! ([`crate::http::errors`]) turns each into a problem document.

use crate::approvals::record::{RedeemRefused, VoteRefused};
use crate::state::StateError;
use crate::tenants::settings_error::SettingsError;
use warden_store::StoreError;

/// An approval operation that did not happen, and why.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApprovalError {
    /// The policy document does not validate (the field is named).
    #[error(transparent)]
    Policy(#[from] SettingsError),
    /// The document was edited meanwhile.
    #[error("the approval policy of `{tenant}` is at version {current}, not {expected}")]
    Stale {
        /// The tenant.
        tenant: String,
        /// The version the caller edited.
        expected: i64,
        /// The stored version.
        current: i64,
    },
    /// The tenant has no approval policy.
    #[error("tenant `{0}` has no approval policy")]
    NoPolicy(String),
    /// No such approval request in this tenant.
    #[error("no approval `{0}`")]
    NotFound(String),
    /// The vote is not taken.
    #[error(transparent)]
    Vote(#[from] VoteRefused),
    /// The redemption is refused.
    #[error(transparent)]
    Redeem(#[from] RedeemRefused),
    /// The change could not be recorded in the trace log, so it was not made.
    #[error("the change could not be recorded in the trace log; it was not made: {0}")]
    NotRecorded(String),
    /// Other changes to the same request kept winning the race.
    #[error("approval `{0}` is changing too often to take this change; retry")]
    Contended(String),
    /// The tenant or its runtime could not be had.
    #[error(transparent)]
    State(#[from] StateError),
    /// The database failed, or a stored record no longer parses.
    #[error(transparent)]
    Store(#[from] StoreError),
}
