//! The approvers' web inbox at `/inbox`: server-rendered pages (askama
//! templates, every value escaped), a little JavaScript for the deadline
//! countdowns and keyboard shortcuts, and no build step.
//!
//! Agents control much of what it shows (tool names, arguments,
//! counterparties, reasons), so it is built for hostile text: templates
//! escape everything, a strict Content-Security-Policy allows only the
//! inbox's own script and style, the session is an `HttpOnly`,
//! `SameSite=Strict` cookie (`Secure` under TLS), every change is a POST
//! carrying a CSRF token bound to the session, and a cross-origin POST is
//! refused. Votes go through the same domain code as the API's.

pub mod config;
mod format;
mod pages;
mod session;

use crate::state::AppState;
use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

pub use config::InboxConfig;

/// The policy every inbox response carries: nothing but the inbox's own
/// script, style and forms; no framing, no plugins, no base changes.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
                       connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

const STYLE: &str = include_str!("../../static/inbox.css");
const SCRIPT: &str = include_str!("../../static/inbox.js");
const ICON: &str = include_str!("../../static/favicon.svg");

/// Adds the security headers to an inbox response.
pub fn harden(mut r: Response) -> Response {
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

fn asset(kind: &'static str, body: &'static str) -> Response {
    harden(([(header::CONTENT_TYPE, kind)], body).into_response())
}

/// The inbox's routes, under `/inbox`.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/inbox", get(pages::home))
        .route("/inbox/login", post(pages::login))
        .route("/inbox/dev-login", post(pages::dev_login))
        .route("/inbox/logout", post(pages::logout))
        .route("/inbox/approvals/{id}", get(pages::detail))
        .route("/inbox/approvals/{id}/vote", post(pages::vote))
        .route(
            "/inbox/static/inbox.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
        .route(
            "/inbox/static/favicon.svg",
            get(|| async { asset("image/svg+xml", ICON) }),
        )
        .route(
            "/inbox/static/inbox.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
}
