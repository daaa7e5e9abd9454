//! The inbox session: the approver's token in an `HttpOnly`,
//! `SameSite=Strict` cookie scoped to `/inbox`, checked on every request
//! like a bearer token, and a CSRF token derived from it.

use crate::auth::{Claims, Role};
use crate::state::AppState;
use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

/// The session cookie's name.
pub const COOKIE: &str = "warden_inbox";

/// Longest token the inbox takes, in bytes.
pub const MAX_TOKEN: usize = 8192;

/// A signed-in approver.
#[derive(Debug, Clone)]
pub struct Session {
    /// The token's claims.
    pub claims: Claims,
    /// The token (for the CSRF token).
    token: String,
}

impl Session {
    /// The CSRF token of this session: a hash of its token, which a page of
    /// another origin cannot read (the cookie is `HttpOnly`) nor compute.
    pub fn csrf(&self) -> String {
        hex::encode(Sha256::digest(format!("warden-inbox-csrf\n{}", self.token)))
    }

    /// Whether `token` is this session's CSRF token (constant time).
    pub fn csrf_ok(&self, token: &str) -> bool {
        let want = self.csrf();
        want.len() == token.len()
            && want
                .bytes()
                .zip(token.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// The tenant the session acts on.
    pub fn tenant(&self) -> &str {
        &self.claims.tenant
    }
}

/// Checks `token` as a bearer token for the inbox: valid, of one tenant,
/// with the `approver` or `agent` role.
pub fn check(st: &AppState, token: &str) -> Result<Session, &'static str> {
    let token = token.trim();
    if token.is_empty() || token.len() > MAX_TOKEN {
        return Err("paste a token issued for you");
    }
    let claims = st
        .auth()
        .authenticate(Some(&format!("Bearer {token}")))
        .map_err(|_| "that token is not valid or has expired")?;
    if claims.tenant == crate::FLEET {
        return Err("use a token of your tenant, not a fleet-wide one");
    }
    if !claims.has_any(&[Role::Approver, Role::Agent]) {
        return Err("that token does not carry the approver role");
    }
    Ok(Session {
        claims,
        token: token.to_owned(),
    })
}

/// The session of a request, if its cookie holds a valid token.
pub fn current(st: &AppState, headers: &HeaderMap) -> Option<Session> {
    let cookies = headers.get_all(header::COOKIE);
    let token = cookies
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())?;
    check(st, &token).ok()
}

/// The `Set-Cookie` value that starts a session with `token`.
pub fn set_cookie(token: &str, secure: bool) -> String {
    format!(
        "{COOKIE}={token}; Path=/inbox; HttpOnly; SameSite=Strict; Max-Age=43200{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that ends the session.
pub fn clear_cookie(secure: bool) -> String {
    format!(
        "{COOKIE}=; Path=/inbox; HttpOnly; SameSite=Strict; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether a POST comes from the inbox's own pages: when the browser says
/// where it comes from (`Sec-Fetch-Site`, `Origin`), it must be this site.
pub fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        return matches!(site, "same-origin" | "none");
    }
    match (
        headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()),
        headers.get(header::HOST).and_then(|v| v.to_str().ok()),
    ) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest == host),
        (Some(_), None) => false,
    }
}
