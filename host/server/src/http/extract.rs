//! Request extractors: strict JSON bodies, the authenticated caller, and
//! pagination parameters, each failing with a problem-details error.

use super::problem::{ApiError, Kind};
use crate::auth::{AuthError, Claims, Role};
use crate::state::AppState;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::header;
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;

/// A JSON body parsed strictly (unknown fields rejected by the types), with
/// errors that name the field.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

/// Maps a body-read failure to a problem (oversized bodies are 413).
pub fn body_error(e: BytesRejection) -> ApiError {
    if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            Kind::PayloadTooLarge,
            "the request body is over the size limit",
        )
    } else {
        ApiError::new(
            Kind::InvalidJson,
            format!("cannot read the request body: {e}"),
        )
    }
}

/// Parses JSON into `T`; errors name the path of the bad field.
///
/// The happy path is plain `serde_json`; only a body that fails is parsed
/// again with path tracking, to say where (tracking every field costs ~5% of
/// a decision's CPU, and a failing body is rare and small).
///
/// JSON has one number type: `1.0` and `1` are the same number (RFC 8785,
/// which the trace log's encoding follows, writes both as `1`), and the
/// API document's `integer` admits both. A body refused only because an
/// integer was written with a zero fraction is read again with such numbers
/// written as integers.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    // Every body is a JSON object (serde would read a struct from an array).
    if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::new(
            Kind::InvalidJson,
            "invalid JSON body: expected a JSON object",
        ));
    }
    serde_json::from_slice(bytes)
        .map_err(|e| {
            integral_again(bytes)
                .and_then(|again| serde_json::from_slice(&again).ok())
                .ok_or_else(|| parse_error::<T>(bytes, e))
        })
        .or_else(|r| r)
}

/// The body with every number that has a zero fraction (and fits an
/// integer exactly) written as an integer; `None` if there is none.
fn integral_again(bytes: &[u8]) -> Option<Vec<u8>> {
    fn walk(v: &mut serde_json::Value) -> bool {
        match v {
            serde_json::Value::Number(n) => match n.as_f64() {
                Some(f) if n.is_f64() && f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
                    // In range: exact (|f| < 2^53).
                    #[allow(clippy::cast_possible_truncation)]
                    let i = f as i64;
                    *n = i.into();
                    true
                }
                _ => false,
            },
            serde_json::Value::Array(a) => a.iter_mut().fold(false, |c, v| walk(v) | c),
            serde_json::Value::Object(o) => o.values_mut().fold(false, |c, v| walk(v) | c),
            _ => false,
        }
    }
    let mut v: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    walk(&mut v).then(|| serde_json::to_vec(&v).ok()).flatten()
}

/// The problem for a body `serde_json` rejected with `first`, naming the bad
/// field's path when there is one.
fn parse_error<T: DeserializeOwned>(bytes: &[u8], first: serde_json::Error) -> ApiError {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let detail = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            if path == "." || path == "?" || path.is_empty() {
                format!("invalid JSON body: {inner}")
            } else {
                format!("invalid JSON body at `{path}`: {inner}")
            }
        }
        // The value itself parsed: `first` is about what follows it.
        Ok(_) => format!("invalid JSON body: {first}"),
    };
    ApiError::new(Kind::InvalidJson, detail)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let ct = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        // Media types are case-insensitive (RFC 9110 section 8.3.1).
        let mime = ct
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if !(mime == "application/json" || mime.ends_with("+json")) {
            return Err(ApiError::new(
                Kind::UnsupportedMediaType,
                "expected `Content-Type: application/json`",
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(body_error)?;
        // serde lets a struct be written as an array of its fields; the API
        // does not.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::new(
                Kind::InvalidJson,
                "invalid JSON body: expected a JSON object",
            ));
        }
        parse_json(&bytes).map(ApiJson)
    }
}

/// The authenticated caller: the verified token's claims.
#[derive(Debug, Clone)]
pub struct Caller(pub Claims);

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let h = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        state.auth().authenticate(h).map(Caller).map_err(|e| {
            ApiError::new(
                Kind::Unauthorized,
                match e {
                    AuthError::Missing => "a bearer token is required",
                    _ => "the bearer token is invalid or expired",
                },
            )
        })
    }
}

impl Caller {
    /// Requires fleet scope and the fleet-admin role.
    pub fn fleet_admin(&self) -> Result<(), ApiError> {
        if self.0.is_fleet_admin() {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    /// Requires access to `tenant` with one of `roles` (fleet admins always pass).
    pub fn tenant(&self, tenant: &str, roles: &[Role]) -> Result<(), ApiError> {
        if self.0.is_fleet_admin() || (self.0.covers(tenant) && self.0.has_any(roles)) {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    /// Requires fleet-wide access with one of `roles`: a fleet admin, or a
    /// token for tenant `*` with one of them (the fleet log).
    pub fn fleet(&self, roles: &[Role]) -> Result<(), ApiError> {
        if self.0.is_fleet_admin() || (self.0.tenant == crate::FLEET && self.0.has_any(roles)) {
            Ok(())
        } else {
            Err(forbidden())
        }
    }

    /// Requires any role (any valid token).
    pub fn any(&self) -> Result<(), ApiError> {
        Ok(())
    }

    /// The token's subject.
    pub fn sub(&self) -> &str {
        &self.0.sub
    }
}

fn forbidden() -> ApiError {
    ApiError::new(
        Kind::Forbidden,
        "the token does not grant this operation on this resource",
    )
}

/// Pagination: `?limit=N&cursor=C`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct PageParams {
    /// Items per page, 1..=500 (default 50).
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<usize>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl PageParams {
    /// The validated limit.
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit {
            None => Ok(50),
            Some(n) if (1..=500).contains(&n) => Ok(n),
            Some(n) => Err(ApiError::new(
                Kind::InvalidParameter,
                format!("`limit` must be between 1 and 500, got `{n}`"),
            )),
        }
    }
}

/// Checks a text of a body that the store will look up or keep: 1 to
/// `max` characters, no NUL; else a 422 naming `field`.
pub fn body_text(field: &str, value: &str, max: usize) -> Result<(), ApiError> {
    let problem = if value.is_empty() {
        "must not be empty".to_owned()
    } else if value.contains('\0') {
        "contains a NUL character".to_owned()
    } else if value.chars().count() > max {
        format!("is longer than {max} characters")
    } else {
        return Ok(());
    };
    Err(
        ApiError::new(Kind::Unprocessable, format!("`{field}` {problem}"))
            .with(serde_json::json!({ "field": field })),
    )
}

/// Query parameters with problem-details errors.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::try_from_uri(&parts.uri)
            .map(|q| ApiQuery(q.0))
            .map_err(|e| ApiError::new(Kind::InvalidParameter, e.body_text()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Outer {
        inner: Inner,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        n: u32,
    }

    fn detail(bytes: &[u8]) -> String {
        let e = parse_json::<Outer>(bytes).unwrap_err();
        assert_eq!(e.kind, Kind::InvalidJson);
        e.detail
    }

    #[test]
    fn a_good_body_parses() {
        let v: Outer = parse_json(br#" {"inner": {"n": 7}} "#).unwrap();
        assert_eq!(
            v,
            Outer {
                inner: Inner { n: 7 }
            }
        );
    }

    #[test]
    fn a_bad_field_is_named_by_its_path() {
        let d = detail(br#"{"inner": {"n": "seven"}}"#);
        assert!(d.starts_with("invalid JSON body at `inner.n`: "), "{d}");
        let d = detail(br#"{"inner": {"n": 1, "m": 2}}"#);
        assert!(
            d.starts_with("invalid JSON body at `inner.m`: unknown field `m`"),
            "{d}"
        );
    }

    #[test]
    fn an_integer_written_with_a_zero_fraction_is_that_integer() {
        let v: Outer = parse_json(br#"{"inner": {"n": 7.0}}"#).unwrap();
        assert_eq!(v.inner.n, 7);
        let v: Outer = parse_json(br#"{"inner": {"n": 7e0}}"#).unwrap();
        assert_eq!(v.inner.n, 7);
        // A fraction is still not an integer, nor is a number past 2^53.
        let d = detail(br#"{"inner": {"n": 7.5}}"#);
        assert!(d.starts_with("invalid JSON body at `inner.n`: "), "{d}");
        let d = detail(br#"{"inner": {"n": 1e300}}"#);
        assert!(d.starts_with("invalid JSON body at `inner.n`: "), "{d}");
    }

    #[test]
    fn trailing_data_and_broken_syntax_are_errors() {
        let d = detail(br#"{"inner": {"n": 1}} x"#);
        assert!(
            d.starts_with("invalid JSON body: trailing characters"),
            "{d}"
        );
        let d = detail(br#"{"inner": "#);
        assert!(d.starts_with("invalid JSON body"), "{d}");
    }
}
