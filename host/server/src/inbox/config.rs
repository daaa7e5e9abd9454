//! How the inbox runs: set when the server starts, kept in the shared state.

use crate::auth::TokenSigner;

/// How the inbox runs.
#[derive(Debug, Default)]
pub struct InboxConfig {
    /// Mark the session cookie `Secure` (the server runs TLS).
    pub secure_cookies: bool,
    /// With `--seed-demo` and the local issuer: a development login that
    /// issues a token for `demo-approver` (group `finance`) of `demo`.
    pub dev_login: Option<TokenSigner>,
}
