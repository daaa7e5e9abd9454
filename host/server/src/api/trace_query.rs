//! Reading the trace log over HTTP: events by filter (paged by sequence
//! number), one run's events by request id, and a streamed NDJSON export in
//! the format `warden trace verify --file` checks.

use super::{Paged, rfc3339};
use crate::auth::Role;
use crate::http::extract::{ApiQuery, Caller};
use crate::http::problem::{ApiError, Kind, Problem};
use crate::state::AppState;
use axum::Json;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use warden_store::{
    FilterError, PackFilter, Store, StoredRow, TraceFilter, class_key, parse_class_filter,
    parse_seq, parse_text, parse_time, parse_verdict,
};

/// Events per page by default, and at most.
const DEFAULT_LIMIT: usize = 100;
const MAX_LIMIT: usize = 500;

/// Rows read from the store per step of an export.
pub const EXPORT_PAGE: i64 = 1000;

/// Events a run lists at most (the rest: `/trace/events?request_id=`).
const RUN_LIMIT: usize = 1000;

/// One event of the log as the API shows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct EventView {
    /// Sequence number (1, 2, ... per tenant).
    pub seq: u64,
    /// When it was appended (RFC 3339, UTC).
    pub at: String,
    /// Retention class: `financial`, `read-only`, `action` or `admin`.
    pub class: String,
    /// Event kind: `decision`, `configuration`, `tenant-created`, `pruning`, ...
    pub kind: String,
    /// The event's body (for a decision: decision id, request, verdict,
    /// findings, packs, ...); absent when retention pruned it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Object)]
    pub body: Option<Value>,
    /// `true` for a tombstone: retention removed the content, the hashes stay.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pruned: bool,
    /// The previous event's hash (hex).
    pub prev: String,
    /// This event's hash (hex).
    pub hash: String,
}

impl EventView {
    /// The view of a stored row (its body parsed out of the canonical event).
    pub fn of(row: &StoredRow) -> Result<EventView, String> {
        let body = if row.pruned {
            None
        } else {
            let mut event: Value = serde_json::from_str(&row.event)
                .map_err(|e| format!("stored trace event {} is corrupt: {e}", row.seq))?;
            Some(
                event
                    .get_mut("body")
                    .map(Value::take)
                    .unwrap_or(Value::Null),
            )
        };
        Ok(EventView {
            seq: row.seq,
            at: rfc3339(row.at_ms),
            class: class_key(row.class).to_owned(),
            kind: row.kind.clone(),
            body,
            pruned: row.pruned,
            prev: row.prev.clone(),
            hash: row.hash.clone(),
        })
    }
}

/// Query of `GET /v1/tenants/{tenant}/trace/events`. Filters combine with
/// AND; times are RFC 3339 (`from` inclusive, `to` exclusive).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Events appended at or after this time (RFC 3339, e.g. `2025-01-31T09:00:00Z`).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// Events appended before this time (RFC 3339; after `from`).
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Decisions for this agent (`principal.agent`).
    #[param(min_length = 1)]
    pub agent: Option<String>,
    /// Decisions on this tool (`action.tool`).
    #[param(min_length = 1)]
    pub tool: Option<String>,
    /// Decisions with this verdict: `allow`, `deny` or `escalate`.
    #[param(pattern = "^(allow|deny|escalate)$")]
    pub verdict: Option<String>,
    /// Decisions a pack served: `name@version`, or `name` for any version
    /// (the pattern: semver.org's, with ASCII digits and 64-bit numbers).
    #[param(
        pattern = r"^[a-z0-9_-]{1,64}(@(0|[1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,15})\.(0|[1-9][0-9]{0,15})(-((0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)(\.(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*))*))?(\+([0-9a-zA-Z-]+(\.[0-9a-zA-Z-]+)*))?)?$"
    )]
    pub pack: Option<String>,
    /// The decision with this id.
    #[param(min_length = 1)]
    pub decision_id: Option<String>,
    /// Events of this request (run) id.
    #[param(min_length = 1)]
    pub request_id: Option<String>,
    /// Events of this kind (`decision`, `configuration`, `pruning`, ...).
    #[param(min_length = 1)]
    pub kind: Option<String>,
    /// Events of this retention class (`financial`, `read-only`, `action`, `admin`).
    #[param(pattern = "^(financial|read-only|action|admin)$")]
    pub class: Option<String>,
    /// The `next_cursor` of the previous page (the last sequence number seen).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 9_223_372_036_854_775_807_i64)]
    pub cursor: Option<String>,
    /// Events per page, 1..=500 (default 100).
    #[param(value_type = Option<u32>, minimum = 1, maximum = 500)]
    pub limit: Option<String>,
}

/// A bad filter: 422 naming the parameter (also as `parameter`).
fn filter_error(e: FilterError) -> ApiError {
    ApiError::new(Kind::Unprocessable, e.to_string())
        .with(serde_json::json!({"parameter": e.parameter()}))
}

fn opt<T>(
    v: &Option<String>,
    parse: impl FnOnce(&str) -> Result<T, FilterError>,
) -> Result<Option<T>, ApiError> {
    v.as_deref().map(parse).transpose().map_err(filter_error)
}

impl EventsQuery {
    /// The validated filter.
    pub fn filter(&self) -> Result<TraceFilter, ApiError> {
        let f = TraceFilter {
            from_ms: opt(&self.from, |s| parse_time("from", s))?,
            to_ms: opt(&self.to, |s| parse_time("to", s))?,
            from_seq: None,
            to_seq: None,
            agent: opt(&self.agent, |s| parse_text("agent", s))?,
            tool: opt(&self.tool, |s| parse_text("tool", s))?,
            verdict: opt(&self.verdict, parse_verdict)?,
            pack: opt(&self.pack, PackFilter::parse)?,
            decision_id: opt(&self.decision_id, |s| parse_text("decision_id", s))?,
            request_id: opt(&self.request_id, |s| parse_text("request_id", s))?,
            kind: opt(&self.kind, |s| parse_text("kind", s))?,
            class: opt(&self.class, parse_class_filter)?,
        };
        f.check_ranges().map_err(filter_error)?;
        Ok(f)
    }

    /// The validated page size (400 like every list's `limit`).
    pub fn limit(&self) -> Result<usize, ApiError> {
        match self.limit.as_deref() {
            None => Ok(DEFAULT_LIMIT),
            Some(s) => s
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| {
                    ApiError::new(
                        Kind::InvalidParameter,
                        format!("`limit` must be between 1 and {MAX_LIMIT}, got `{s}`"),
                    )
                }),
        }
    }

    /// The sequence number to continue after (400 like every list's `cursor`).
    pub fn after(&self) -> Result<u64, ApiError> {
        match self.cursor.as_deref() {
            None => Ok(0),
            Some(s) => s
                .parse::<u64>()
                .ok()
                .filter(|n| i64::try_from(*n).is_ok())
                .ok_or_else(|| {
                    ApiError::new(
                        Kind::InvalidParameter,
                        format!("`cursor` must be a sequence number from `next_cursor`, got `{s}`"),
                    )
                }),
        }
    }
}

fn views(rows: &[StoredRow]) -> Result<Vec<EventView>, ApiError> {
    rows.iter()
        .map(|r| EventView::of(r).map_err(ApiError::internal))
        .collect()
}

/// Events of the tenant's trace log that match every filter given, in
/// sequence order, a page at a time (auditors).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/trace/events", tag = "trace",
    params(("tenant" = String, Path, description = "Tenant id"), EventsQuery),
    responses((status = 200, body = Paged<EventView>),
        (status = 400, body = Problem, description = "unknown parameter, bad `limit` or `cursor`"),
        (status = 404, body = Problem, description = "no such tenant"),
        (status = 422, body = Problem, description = "a bad filter value; `parameter` names it")),
    security(("bearer" = [])))]
pub async fn events(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Paged<EventView>>, ApiError> {
    caller.tenant(&tenant, &[Role::Auditor])?;
    let (filter, limit, after) = (q.filter()?, q.limit()?, q.after()?);
    st.tenant_row(&tenant).await?;
    page(&st, &tenant, &filter, limit, after).await.map(Json)
}

/// A page of the events of `log` that match `filter`, after `after`.
pub(crate) async fn page(
    st: &AppState,
    log: &str,
    filter: &TraceFilter,
    limit: usize,
    after: u64,
) -> Result<Paged<EventView>, ApiError> {
    let mut rows = st
        .store()
        .trace_query(
            log,
            filter,
            after,
            i64::try_from(limit + 1).unwrap_or(i64::MAX),
        )
        .await?;
    let next_cursor = if rows.len() > limit {
        rows.truncate(limit);
        rows.last().map(|r| r.seq.to_string())
    } else {
        None
    };
    Ok(Paged {
        items: views(&rows)?,
        next_cursor,
    })
}

/// One run: every event of a request id, in order.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    /// The request id.
    pub request_id: String,
    /// Its events in sequence order (decisions; retries of the same id too).
    pub events: Vec<EventView>,
    /// More than 1000 events: page through `/trace/events?request_id=` for the rest.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub truncated: bool,
}

/// One run's story: every event of a request id, in order (auditors).
#[utoipa::path(get, path = "/v1/tenants/{tenant}/trace/runs/{request_id}", tag = "trace",
    params(("tenant" = String, Path, description = "Tenant id"),
        ("request_id" = String, Path, description = "The request (run) id")),
    responses((status = 200, body = RunView),
        (status = 404, body = Problem, description = "no such tenant, or no event of that request id")),
    security(("bearer" = [])))]
pub async fn run(
    State(st): State<AppState>,
    caller: Caller,
    Path((tenant, request_id)): Path<(String, String)>,
) -> Result<Json<RunView>, ApiError> {
    caller.tenant(&tenant, &[Role::Auditor])?;
    st.tenant_row(&tenant).await?;
    let filter = TraceFilter {
        request_id: Some(request_id.clone()),
        ..TraceFilter::default()
    };
    let mut rows = st
        .store()
        .trace_query(
            &tenant,
            &filter,
            0,
            i64::try_from(RUN_LIMIT + 1).unwrap_or(i64::MAX),
        )
        .await?;
    if rows.is_empty() {
        return Err(ApiError::not_found("run", &request_id));
    }
    let truncated = rows.len() > RUN_LIMIT;
    rows.truncate(RUN_LIMIT);
    Ok(Json(RunView {
        request_id,
        events: views(&rows)?,
        truncated,
    }))
}

/// Query of `GET /v1/tenants/{tenant}/trace/export`. Bounds combine; the
/// export is always a contiguous stretch of sequence numbers.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// First sequence number (default 1). Only an export from 1 verifies on
    /// its own: the verifier starts from the tenant's genesis hash.
    #[param(value_type = Option<i64>, minimum = 1)]
    pub from_seq: Option<String>,
    /// Last sequence number (default: the head when the export starts; at
    /// least `from_seq`).
    #[param(value_type = Option<i64>, minimum = 1)]
    pub to_seq: Option<String>,
    /// Start at the first event appended at or after this time (RFC 3339).
    #[param(format = DateTime)]
    pub from: Option<String>,
    /// End at the last event appended before this time (RFC 3339; after `from`).
    #[param(format = DateTime)]
    pub to: Option<String>,
}

impl ExportQuery {
    fn filter(&self) -> Result<TraceFilter, ApiError> {
        let f = TraceFilter {
            from_ms: opt(&self.from, |s| parse_time("from", s))?,
            to_ms: opt(&self.to, |s| parse_time("to", s))?,
            from_seq: opt(&self.from_seq, |s| parse_seq("from_seq", s))?,
            to_seq: opt(&self.to_seq, |s| parse_seq("to_seq", s))?,
            ..TraceFilter::default()
        };
        f.check_ranges().map_err(filter_error)?;
        Ok(f)
    }
}

/// The inclusive sequence range an export covers, or `None` when nothing
/// matches: sequence bounds, narrowed by time bounds to the stretch of the
/// log they cover, and ending at the head as it is now.
pub async fn export_range(
    store: &Store,
    tenant: &str,
    f: &TraceFilter,
) -> Result<Option<(u64, u64)>, warden_store::StoreError> {
    let Some((head, _)) = store.trace_head(tenant).await? else {
        return Ok(None);
    };
    let (mut lo, mut hi) = (f.from_seq.unwrap_or(1), f.to_seq.unwrap_or(head).min(head));
    if f.from_ms.is_some() || f.to_ms.is_some() {
        let Some((a, b)) = store.trace_seq_span(tenant, f.from_ms, f.to_ms).await? else {
            return Ok(None);
        };
        (lo, hi) = (lo.max(a), hi.min(b));
    }
    Ok((lo <= hi).then_some((lo, hi)))
}

/// Export lines (`StoredRow::to_line`, one per line) of `tenant`'s log in
/// `[from, to]`, read from the store a page at a time as they are consumed.
pub fn export_stream(
    store: Store,
    tenant: String,
    range: Option<(u64, u64)>,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let start = range.map(|(lo, hi)| (lo.saturating_sub(1), hi));
    futures_util::stream::try_unfold(start, move |state| {
        let (store, tenant) = (store.clone(), tenant.clone());
        async move {
            let Some((after, to)) = state else {
                return Ok(None);
            };
            let f = TraceFilter {
                to_seq: Some(to),
                ..TraceFilter::default()
            };
            let rows = store
                .trace_query(&tenant, &f, after, EXPORT_PAGE)
                .await
                .map_err(|e| {
                    tracing::error!(tenant = %tenant, error = %e, "trace export failed");
                    std::io::Error::other("the trace export failed")
                })?;
            let Some(last) = rows.last().map(|r| r.seq) else {
                return Ok(None);
            };
            let mut chunk = String::with_capacity(rows.iter().map(|r| r.event.len() + 200).sum());
            for r in &rows {
                chunk.push_str(&r.to_line(&tenant));
                chunk.push('\n');
            }
            let next = (last < to).then_some((last, to));
            Ok(Some((Bytes::from(chunk), next)))
        }
    })
}

/// The tenant's trace log as NDJSON export lines, streamed (auditors):
/// `{"prev","hash","event"}` per event, `{"prev","hash","pruned"}` per
/// tombstone, exactly what `warden trace verify --file` checks. An export
/// from sequence 1 verifies on its own; a later start needs the events before it.
#[utoipa::path(get, path = "/v1/tenants/{tenant}/trace/export", tag = "trace",
    params(("tenant" = String, Path, description = "Tenant id"), ExportQuery),
    responses((status = 200, content_type = "application/x-ndjson", body = String,
            description = "one export line per event, in sequence order"),
        (status = 404, body = Problem, description = "no such tenant"),
        (status = 422, body = Problem, description = "a bad bound; `parameter` names it")),
    security(("bearer" = [])))]
pub async fn export(
    State(st): State<AppState>,
    caller: Caller,
    Path(tenant): Path<String>,
    ApiQuery(q): ApiQuery<ExportQuery>,
) -> Result<Response, ApiError> {
    caller.tenant(&tenant, &[Role::Auditor])?;
    let f = q.filter()?;
    st.tenant_row(&tenant).await?;
    let range = export_range(st.store(), &tenant, &f).await?;
    let body = Body::from_stream(export_stream(st.store().clone(), tenant, range));
    let mut res = body.into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-ndjson"),
    );
    Ok(res)
}
