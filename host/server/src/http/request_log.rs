//! Request tracing: every request runs inside a `request` span that carries
//! its id, method, path and tenant (and, once a handler knows it, the
//! decision id), so whatever the request logs names it. The id is the
//! caller's `x-request-id` when it is a sane token, a new UUID otherwise, and
//! it is echoed in the response's `x-request-id`. A response with a server
//! error is logged here, with the cause the handler attached to it
//! ([`Cause`]): error conversions never log themselves.

use super::problem::Cause;
use crate::tenants::lifecycle::valid_tenant_id;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::response::Response;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;
use tracing::Span;
use tracing::field::Empty;

/// The log target of the request span and of each request's outcome:
/// operators filter on it (`--log info,warden_server::request_log=debug`),
/// so it is a stable name, not whatever module path the code has.
pub const TARGET: &str = "warden_server::request_log";

/// The header that carries a request's id, both ways.
pub const REQUEST_ID: &str = "x-request-id";

/// Longest `x-request-id` taken from a caller, in bytes.
pub const MAX_REQUEST_ID: usize = 128;

/// The layer: wrap the whole router in it.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestLog;

impl<S> tower_layer::Layer<S> for RequestLog {
    type Service = RequestLogService<S>;

    fn layer(&self, inner: S) -> RequestLogService<S> {
        RequestLogService(inner)
    }
}

/// A service behind [`RequestLog`].
#[derive(Debug, Clone)]
pub struct RequestLogService<S>(S);

impl<S> tower_service::Service<Request> for RequestLogService<S>
where
    S: tower_service::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Logged<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let id = request_id(req.headers().get(REQUEST_ID));
        let path = req.uri().path();
        let span = tracing::info_span!(
            target: TARGET,
            "request",
            request_id = id.to_str().unwrap_or("-"),
            method = %req.method(),
            path = %path,
            tenant = Empty,
            decision_id = Empty,
        );
        if let Some(tenant) = tenant_of(path) {
            span.record("tenant", tenant);
        }
        let inner = span.in_scope(|| self.0.call(req));
        Logged {
            inner,
            span,
            id,
            started: Instant::now(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The response future of a request, polled inside its span; logs the
    /// outcome when it is ready.
    pub struct Logged<F> {
        #[pin]
        inner: F,
        span: Span,
        id: HeaderValue,
        started: Instant,
    }
}

impl<F, E> Future for Logged<F>
where
    F: Future<Output = Result<Response, E>>,
{
    type Output = Result<Response, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let _entered = this.span.enter();
        let mut out = std::task::ready!(this.inner.poll(cx));
        if let Ok(res) = &mut out {
            let status = res.status().as_u16();
            let ms = this.started.elapsed().as_secs_f64() * 1e3;
            if res.status().is_server_error() {
                let cause = res.extensions().get::<Cause>().map(|c| c.0.as_str());
                tracing::error!(target: TARGET, status, ms, cause, "request failed");
            } else {
                tracing::debug!(target: TARGET, status, ms, "request");
            }
            res.headers_mut().insert(REQUEST_ID, this.id.clone());
        }
        Poll::Ready(out)
    }
}

/// The caller's id when it is 1 to [`MAX_REQUEST_ID`] visible ASCII
/// characters (nothing that could forge a log line), else a new UUID.
fn request_id(given: Option<&HeaderValue>) -> HeaderValue {
    match given {
        Some(v)
            if !v.is_empty()
                && v.len() <= MAX_REQUEST_ID
                && v.as_bytes().iter().all(|b| b.is_ascii_graphic()) =>
        {
            v.clone()
        }
        _ => {
            let id = uuid::Uuid::now_v7().hyphenated().to_string();
            HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("unknown"))
        }
    }
}

/// The tenant of a `/v1/tenants/{tenant}/...` path, when it is a valid
/// tenant id (anything else is the edge check's to refuse, not to log).
fn tenant_of(path: &str) -> Option<&str> {
    let t = path.strip_prefix("/v1/tenants/")?.split('/').next()?;
    valid_tenant_id(t).then_some(t)
}

/// Records the decision id on the current request's span (a no-op outside
/// one).
pub fn record_decision(id: &str) {
    Span::current().record("decision_id", id);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sane_id_is_kept_and_anything_else_replaced() {
        let keep = HeaderValue::from_static("req-42.a_b");
        assert_eq!(request_id(Some(&keep)), keep);
        for bad in ["", "has space", "tab\there"] {
            let v = HeaderValue::from_str(bad).unwrap();
            let got = request_id(Some(&v));
            assert_ne!(got, v, "{bad:?}");
            assert_eq!(got.len(), 36, "a UUID instead of {bad:?}");
        }
        let long = HeaderValue::from_str(&"a".repeat(MAX_REQUEST_ID + 1)).unwrap();
        assert_eq!(request_id(Some(&long)).len(), 36);
        assert_eq!(request_id(None).len(), 36);
    }

    #[test]
    fn the_tenant_comes_from_tenant_paths_only() {
        assert_eq!(tenant_of("/v1/tenants/acme/evaluate"), Some("acme"));
        assert_eq!(tenant_of("/v1/tenants/acme"), Some("acme"));
        assert_eq!(tenant_of("/v1/tenants/a%0Ab/evaluate"), None);
        assert_eq!(tenant_of("/v1/tenants/"), None);
        assert_eq!(tenant_of("/v1/packs/treasury"), None);
        assert_eq!(tenant_of("/healthz"), None);
    }
}
