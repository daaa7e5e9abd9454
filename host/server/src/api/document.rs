//! The OpenAPI document's shared parts that the route annotations cannot
//! say once for all: every error an operation can answer, as an RFC 9457
//! problem (`application/problem+json`), so the document lists every
//! status the service returns and generated clients parse its errors; and
//! what the schema derive cannot say ([`close_schemas`]).

use serde_json::{Value, json};

/// Statuses every authenticated operation may answer, with what they mean.
const COMMON: &[(&str, &str)] = &[
    (
        "400",
        "a path or query parameter is malformed, or the body is not the JSON expected",
    ),
    ("401", "no bearer token, or an invalid one"),
    (
        "403",
        "the token does not grant this operation on this resource",
    ),
    ("404", "no such resource (or not visible to the caller)"),
    (
        "422",
        "the input parsed but is not acceptable; the problem names the field",
    ),
    ("500", "the server failed"),
    (
        "503",
        "the database (or the evaluation pool) is unavailable; retry",
    ),
];

/// Statuses of operations that take a body.
const WITH_BODY: &[(&str, &str)] = &[
    ("413", "the body is over the size limit"),
    ("415", "the body's content type is not the one expected"),
];

fn problem(description: &str) -> Value {
    json!({
        "description": description,
        "content": {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
    })
}

/// Adds the problem responses to every operation of `doc` (as JSON), and
/// serves the error responses the annotations declared as problems.
pub fn add_problems(doc: &mut Value) {
    let Some(paths) = doc.get_mut("paths").and_then(Value::as_object_mut) else {
        return;
    };
    for (path, item) in paths.iter_mut() {
        let Some(item) = item.as_object_mut() else {
            continue;
        };
        for (method, op) in item.iter_mut() {
            let Some(op) = op.as_object_mut() else {
                continue;
            };
            bound_parameters(op);
            let secured = op
                .get("security")
                .is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty()));
            let has_body = op.contains_key("requestBody");
            let responses = op
                .entry("responses")
                .or_insert_with(|| json!({}))
                .as_object_mut();
            let Some(responses) = responses else {
                continue;
            };
            // Declared errors are problems.
            for (status, r) in responses.iter_mut() {
                if status.starts_with('4') || status.starts_with('5') {
                    let description = r
                        .get("description")
                        .and_then(Value::as_str)
                        .unwrap_or("error")
                        .to_owned();
                    *r = problem(&description);
                }
            }
            if !secured {
                continue;
            }
            let mut add: Vec<(&str, &str)> = COMMON.to_vec();
            if has_body {
                add.extend_from_slice(WITH_BODY);
            }
            if path.ends_with("/evaluate") || path.ends_with("/evaluate/batch") {
                add.push((
                    "429",
                    "the tenant has too many decisions waiting; retry after `Retry-After` seconds",
                ));
            }
            if method == "post" || method == "put" || method == "patch" {
                add.push(("409", "the change conflicts with the current state"));
            }
            for (status, description) in add {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description));
            }
        }
    }
}

/// String parameters carry the bounds the edge enforces (no NUL, at most
/// 256 characters in a path segment and 1024 in a query value), so a value
/// the document calls valid passes the edge, and one it calls invalid does not.
fn bound_parameters(op: &mut serde_json::Map<String, Value>) {
    let Some(params) = op.get_mut("parameters").and_then(Value::as_array_mut) else {
        return;
    };
    for p in params {
        let max = match p.get("in").and_then(Value::as_str) {
            Some("path") => crate::http::edge::MAX_SEGMENT_CHARS,
            Some("query") => crate::http::edge::MAX_QUERY_VALUE_CHARS,
            _ => continue,
        };
        let Some(schema) = p.get_mut("schema").and_then(Value::as_object_mut) else {
            continue;
        };
        let is_string = match schema.get("type") {
            Some(Value::String(t)) => t == "string",
            Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
            _ => false,
        };
        if is_string && !schema.contains_key("enum") {
            schema
                .entry("pattern")
                .or_insert_with(|| json!("^[^\\u0000]*$"));
            schema.entry("maxLength").or_insert_with(|| json!(max));
        }
    }
}

/// Schemas of internally tagged enums whose variants refuse unknown fields
/// (`#[serde(tag = ..., deny_unknown_fields)]`, which the derive does not
/// carry into the variants).
const CLOSED_VARIANTS: &[&str] = &["RolloutStage", "Anchor", "Approver"];

/// Says in the schemas what the derive leaves out: tagged variants that
/// refuse unknown fields, and the bounds of a batch's list of requests
/// (any JSON values, each validated on its own).
pub fn close_schemas(doc: &mut Value) {
    let Some(schemas) = doc
        .pointer_mut("/components/schemas")
        .and_then(Value::as_object_mut)
    else {
        return;
    };
    for name in CLOSED_VARIANTS {
        if let Some(variants) = schemas
            .get_mut(*name)
            .and_then(|s| s.get_mut("oneOf"))
            .and_then(Value::as_array_mut)
        {
            for v in variants {
                if let Some(o) = v.as_object_mut() {
                    o.insert("additionalProperties".to_owned(), json!(false));
                }
            }
        }
    }
    if let Some(requests) = schemas
        .get_mut("BatchRequest")
        .and_then(|s| s.pointer_mut("/properties/requests"))
        .and_then(Value::as_object_mut)
    {
        requests.insert("items".to_owned(), json!({}));
        requests.insert("minItems".to_owned(), json!(1));
        requests.insert("maxItems".to_owned(), json!(super::evaluate::MAX_BATCH));
    }
}
