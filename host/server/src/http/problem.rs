//! API errors as RFC 9457 problem details, each kind with a stable `type`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::Value;

/// Why a request failed on the server's side: attached to the response's
/// extensions by [`ApiError`], logged by the request layer
/// ([`super::request_log`]), never sent to the caller.
#[derive(Debug, Clone)]
pub struct Cause(pub String);

/// Every kind of API error. The `type` of a problem is `urn:warden:problem:<kind>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// 401: no or bad token.
    Unauthorized,
    /// 403: the token lacks the role or tenant.
    Forbidden,
    /// 404: no such resource (or not visible to the caller).
    NotFound,
    /// 405: the endpoint exists, the method does not.
    MethodNotAllowed,
    /// 400: the body is not valid JSON of the expected shape.
    InvalidJson,
    /// 400: a query or path parameter is malformed.
    InvalidParameter,
    /// 413: the body is over the size limit.
    PayloadTooLarge,
    /// 415: wrong content type.
    UnsupportedMediaType,
    /// 409: already exists, or exists with other content.
    Conflict,
    /// 409: the document changed since the version the caller edited.
    VersionConflict,
    /// 422: the pack is not a valid warden pack.
    InvalidPack,
    /// 422: the pack's signature is missing (when required) or does not verify.
    SignatureRejected,
    /// 422: the composition or layer does not validate.
    InvalidComposition,
    /// 422: the request is well-formed JSON but not acceptable.
    Unprocessable,
    /// 409: the tenant cannot get decisions in its current state.
    TenantNotReady,
    /// 409: the trace log does not verify, so its head is not signed.
    LogDoesNotVerify,
    /// 429: the tenant is sending more than its share; retry later.
    TooManyRequests,
    /// 503: a dependency (the database) is unavailable.
    Unavailable,
    /// 500: a bug or an unexpected failure.
    Internal,
}

impl Kind {
    /// The slug in the problem's `type`.
    pub fn slug(self) -> &'static str {
        match self {
            Kind::Unauthorized => "unauthorized",
            Kind::Forbidden => "forbidden",
            Kind::NotFound => "not-found",
            Kind::MethodNotAllowed => "method-not-allowed",
            Kind::InvalidJson => "invalid-json",
            Kind::InvalidParameter => "invalid-parameter",
            Kind::PayloadTooLarge => "payload-too-large",
            Kind::UnsupportedMediaType => "unsupported-media-type",
            Kind::Conflict => "conflict",
            Kind::VersionConflict => "version-conflict",
            Kind::InvalidPack => "invalid-pack",
            Kind::SignatureRejected => "signature-rejected",
            Kind::InvalidComposition => "invalid-composition",
            Kind::Unprocessable => "unprocessable",
            Kind::TenantNotReady => "tenant-not-ready",
            Kind::LogDoesNotVerify => "log-does-not-verify",
            Kind::TooManyRequests => "too-many-requests",
            Kind::Unavailable => "unavailable",
            Kind::Internal => "internal",
        }
    }

    /// The HTTP status.
    pub fn status(self) -> StatusCode {
        match self {
            Kind::Unauthorized => StatusCode::UNAUTHORIZED,
            Kind::Forbidden => StatusCode::FORBIDDEN,
            Kind::NotFound => StatusCode::NOT_FOUND,
            Kind::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Kind::InvalidJson | Kind::InvalidParameter => StatusCode::BAD_REQUEST,
            Kind::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Kind::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Kind::Conflict
            | Kind::VersionConflict
            | Kind::TenantNotReady
            | Kind::LogDoesNotVerify => StatusCode::CONFLICT,
            Kind::InvalidPack
            | Kind::SignatureRejected
            | Kind::InvalidComposition
            | Kind::Unprocessable => StatusCode::UNPROCESSABLE_ENTITY,
            Kind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            Kind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            Kind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn title(self) -> &'static str {
        match self {
            Kind::Unauthorized => "authentication required",
            Kind::Forbidden => "not allowed",
            Kind::NotFound => "not found",
            Kind::MethodNotAllowed => "method not allowed",
            Kind::InvalidJson => "invalid JSON body",
            Kind::InvalidParameter => "invalid parameter",
            Kind::PayloadTooLarge => "body too large",
            Kind::UnsupportedMediaType => "unsupported media type",
            Kind::Conflict => "conflict",
            Kind::VersionConflict => "version conflict",
            Kind::InvalidPack => "invalid pack",
            Kind::SignatureRejected => "pack signature rejected",
            Kind::InvalidComposition => "invalid composition",
            Kind::Unprocessable => "unprocessable request",
            Kind::TenantNotReady => "tenant not ready",
            Kind::LogDoesNotVerify => "trace log does not verify",
            Kind::TooManyRequests => "too many requests",
            Kind::Unavailable => "service unavailable",
            Kind::Internal => "internal error",
        }
    }
}

/// An API error: rendered as `application/problem+json`.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// The kind.
    pub kind: Kind,
    /// Human-readable detail for this occurrence.
    pub detail: String,
    /// Extra members (e.g. `current_version`).
    pub extra: Option<Value>,
    /// What went wrong inside the server, for its log only: the request
    /// log ([`super::request_log`]) writes it; the caller never sees it.
    pub cause: Option<Box<String>>,
}

/// The body of a problem.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `urn:warden:problem:<kind>`.
    #[serde(rename = "type")]
    pub type_: String,
    /// Short summary of the kind.
    pub title: String,
    /// HTTP status.
    pub status: u16,
    /// What happened.
    pub detail: String,
    /// Extra members for some kinds.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub extra: Option<Value>,
}

impl ApiError {
    /// An error of `kind` with `detail`.
    pub fn new(kind: Kind, detail: impl Into<String>) -> ApiError {
        ApiError {
            kind,
            detail: detail.into(),
            extra: None,
            cause: None,
        }
    }

    /// Adds extra members (must be a JSON object).
    pub fn with(mut self, extra: Value) -> ApiError {
        self.extra = Some(extra);
        self
    }

    /// 404 for a thing named in backticks.
    pub fn not_found(what: &str, id: &str) -> ApiError {
        ApiError::new(Kind::NotFound, format!("{what} `{id}` not found"))
    }

    /// 500 that tells the caller nothing internal; the cause goes to the
    /// server's log with the request.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::new(Kind::Internal, "the server failed to handle this request").caused_by(cause)
    }

    /// Attaches what went wrong inside the server, for its log.
    pub fn caused_by(mut self, cause: impl std::fmt::Display) -> ApiError {
        self.cause = Some(Box::new(cause.to_string()));
        self
    }

    /// The problem body.
    pub fn problem(&self) -> Problem {
        Problem {
            type_: format!("urn:warden:problem:{}", self.kind.slug()),
            title: self.kind.title().to_owned(),
            status: self.kind.status().as_u16(),
            detail: self.detail.clone(),
            extra: self.extra.clone(),
        }
    }
}

/// For the server's log: the kind, the detail and the cause.
impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.kind.slug(), self.detail)?;
        match &self.cause {
            Some(cause) => write!(f, " ({cause})"),
            None => Ok(()),
        }
    }
}

impl From<warden_store::StoreError> for ApiError {
    fn from(e: warden_store::StoreError) -> Self {
        match e {
            e if e.is_unavailable() => {
                ApiError::new(Kind::Unavailable, "the database is unavailable")
            }
            warden_store::StoreError::NotRecorded { log, message } => {
                // The cause is the server's business; the caller learns what happened.
                ApiError::new(
                    Kind::Unavailable,
                    format!(
                        "the change was not made: it could not be recorded in the trace log of `{log}`"
                    ),
                )
                .caused_by(format!("cannot append the event of a change to `{log}`: {message}"))
            }
            e if e.is_bad_text() => ApiError::new(
                Kind::Unprocessable,
                "a text in the request cannot be stored or looked up: it holds a NUL character or is too long",
            ),
            e => ApiError::internal(e),
        }
    }
}

impl From<warden_host::InputError> for ApiError {
    /// A request or document that parsed but is not acceptable: 422, with
    /// the offending field's path in the problem's `field` member.
    fn from(e: warden_host::InputError) -> Self {
        let field = match &e {
            warden_host::InputError::Field { field, .. } => Some(field.clone()),
            _ => None,
        };
        let err = ApiError::new(Kind::Unprocessable, e.to_string());
        match field {
            Some(f) => err.with(serde_json::json!({ "field": f })),
            None => err,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.kind.status();
        let body = serde_json::to_vec(&self.problem()).unwrap_or_default();
        let mut res = (status, body).into_response();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if matches!(self.kind, Kind::TooManyRequests | Kind::Unavailable) {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if self.kind == Kind::Unauthorized {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"warden\""),
            );
        }
        if let Some(cause) = self.cause {
            res.extensions_mut().insert(Cause(*cause));
        }
        res
    }
}
