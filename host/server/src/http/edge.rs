//! The edge check every routed request passes before its handler: each
//! path segment and query parameter, percent-decoded, must be UTF-8, free
//! of NUL characters and within its length bound. A request that is not
//! gets a 400 problem naming the parameter, and never reaches a handler,
//! the store or the database (PostgreSQL cannot even bind a NUL).

use super::problem::{ApiError, Kind};
use axum::extract::{MatchedPath, Request};
use axum::response::{IntoResponse, Response};
use futures_util::future::Either;
use serde_json::json;
use std::task::{Context, Poll};

/// Longest path segment (a tenant id, pack name, version, id), in
/// characters (as the API document's `maxLength` counts them).
pub const MAX_SEGMENT_CHARS: usize = 256;
/// Longest query parameter value (a filter, a cursor), in characters.
pub const MAX_QUERY_VALUE_CHARS: usize = 1024;

/// The edge check as a layer on the router's routes (`route_layer`, so that
/// the matched route names the parameters): a request whose path or query
/// is malformed gets its problem and never reaches the handler.
#[derive(Debug, Clone, Copy, Default)]
pub struct CheckUri;

impl<S> tower_layer::Layer<S> for CheckUri {
    type Service = CheckUriService<S>;

    fn layer(&self, inner: S) -> CheckUriService<S> {
        CheckUriService(inner)
    }
}

/// A route behind [`CheckUri`]. Written out rather than through axum's
/// `middleware::from_fn`, which clones and boxes the route and boxes the
/// future of every request (measured: a few thousand instructions per
/// decision, BENCHMARKS.md).
#[derive(Debug, Clone)]
pub struct CheckUriService<S>(S);

impl<S> tower_service::Service<Request> for CheckUriService<S>
where
    S: tower_service::Service<Request, Response = Response>,
{
    type Response = Response;
    type Error = S::Error;
    type Future = Either<std::future::Ready<Result<Response, S::Error>>, S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        let template = req.extensions().get::<MatchedPath>().map(|m| m.as_str());
        match check(req.uri(), template) {
            Ok(()) => Either::Right(self.0.call(req)),
            Err(e) => Either::Left(std::future::ready(Ok(e.into_response()))),
        }
    }
}

/// Checks a URI's path segments (named after the route's template, e.g.
/// `tenant` for `{tenant}`) and query parameters.
pub fn check(uri: &axum::http::Uri, template: Option<&str>) -> Result<(), ApiError> {
    let mut names = template.map(|t| t.split('/'));
    for segment in uri.path().split('/') {
        let name = names.as_mut().and_then(Iterator::next);
        if plain(segment, false, MAX_SEGMENT_CHARS) {
            continue;
        }
        let name = match name {
            Some(n) if n.starts_with('{') => n.trim_matches(|c| c == '{' || c == '}' || c == '*'),
            _ => "path",
        };
        text(name, &decode(segment, false), MAX_SEGMENT_CHARS)?;
    }
    for pair in uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty())
    {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        if plain(k, true, MAX_QUERY_NAME_BYTES) && plain(v, true, MAX_QUERY_VALUE_CHARS) {
            continue;
        }
        let key = decode(k, true);
        let name = match std::str::from_utf8(&key) {
            Ok(k) if !k.contains('\0') && k.len() <= MAX_QUERY_NAME_BYTES => k.to_owned(),
            _ => {
                return Err(bad(
                    "query",
                    "a query parameter's name is malformed".to_owned(),
                ));
            }
        };
        text(&name, &decode(v, true), MAX_QUERY_VALUE_CHARS)?;
    }
    Ok(())
}

/// Longest query parameter name, in bytes.
const MAX_QUERY_NAME_BYTES: usize = 64;

/// Whether `raw` passes as it is: nothing to decode (no `%`, and in a query
/// no `+`), no NUL, and at most `max` bytes (so at most `max` characters).
/// Such text decodes to itself, which is UTF-8 already; the common case
/// costs one pass and no allocation.
fn plain(raw: &str, query: bool, max: usize) -> bool {
    raw.len() <= max
        && !raw
            .bytes()
            .any(|b| b == b'%' || b == 0 || (query && b == b'+'))
}

fn bad(name: &str, detail: String) -> ApiError {
    ApiError::new(Kind::InvalidParameter, detail).with(json!({ "parameter": name }))
}

fn text(name: &str, bytes: &[u8], max: usize) -> Result<(), ApiError> {
    let s = std::str::from_utf8(bytes)
        .map_err(|_| bad(name, format!("parameter `{name}` is not valid UTF-8")))?;
    if s.contains('\0') {
        return Err(bad(
            name,
            format!("parameter `{name}` contains a NUL character"),
        ));
    }
    let chars = s.chars().count();
    if chars > max {
        return Err(bad(
            name,
            format!("parameter `{name}` is {chars} characters long; at most {max} are allowed"),
        ));
    }
    Ok(())
}

/// Percent-decodes (and, in a query, turns `+` into a space). A `%` not
/// followed by two hex digits stays as it is.
fn decode(s: &str, query: bool) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if query => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn fails(uri: &str, template: &str) -> (String, String) {
        let e = check(&uri.parse().unwrap(), Some(template)).unwrap_err();
        assert_eq!(e.kind, Kind::InvalidParameter);
        let name = e.extra.unwrap()["parameter"].as_str().unwrap().to_owned();
        (name, e.detail)
    }

    #[test]
    fn segments_and_queries_are_decoded_and_checked() {
        let t = "/v1/tenants/{tenant}/trace/events";
        assert!(
            check(
                &"/v1/tenants/a%20b/trace/events?agent=x+y&tool=%41"
                    .parse()
                    .unwrap(),
                Some(t)
            )
            .is_ok()
        );
        assert_eq!(fails("/v1/tenants/a%00b/trace/events", t).0, "tenant");
        let (name, detail) = fails("/v1/tenants/a%FFb/trace/events", t);
        assert_eq!(name, "tenant");
        assert!(detail.contains("UTF-8"), "{detail}");
        assert_eq!(
            fails("/v1/tenants/acme/trace/events?agent=%00", t).0,
            "agent"
        );
        assert_eq!(fails("/v1/tenants/acme/trace/events?tool=%C3", t).0, "tool");
        let long = "x".repeat(MAX_SEGMENT_CHARS + 1);
        let (name, detail) = fails(&format!("/v1/tenants/{long}/trace/events"), t);
        assert_eq!(name, "tenant");
        assert!(detail.contains("at most 256"), "{detail}");
        let long = "x".repeat(MAX_QUERY_VALUE_CHARS + 1);
        assert_eq!(
            fails(&format!("/v1/tenants/a/trace/events?cursor={long}"), t).0,
            "cursor"
        );
        assert_eq!(fails("/v1/tenants/a/trace/events?a%00=1", t).0, "query");
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let t = "/v1/tenants/{tenant}/trace/events";
        let e_acute = "%C3%A9";
        let at_most = e_acute.repeat(MAX_SEGMENT_CHARS);
        let uri = format!("/v1/tenants/{at_most}/trace/events?agent={at_most}");
        assert!(check(&uri.parse().unwrap(), Some(t)).is_ok());
        let over = e_acute.repeat(MAX_SEGMENT_CHARS + 1);
        assert_eq!(
            fails(&format!("/v1/tenants/{over}/trace/events"), t).0,
            "tenant"
        );
    }

    #[test]
    fn decoding_keeps_stray_percent_signs() {
        assert_eq!(decode("100%", false), b"100%");
        assert_eq!(decode("%4", false), b"%4");
        assert_eq!(decode("%zz", false), b"%zz");
        assert_eq!(decode("%41%62", false), b"Ab");
        assert_eq!(decode("a+b", true), b"a b");
        assert_eq!(decode("a+b", false), b"a+b");
    }
}
