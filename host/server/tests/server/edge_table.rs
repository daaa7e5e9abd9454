//! Table-driven over the served OpenAPI document: for every operation,
//! every path parameter and every query parameter it declares, a NUL, bad
//! UTF-8 and a value one character over the bound each get a 400
//! `invalid-parameter` problem naming the parameter, before any handler
//! runs (so before any store or database sees it), on both backends. A new
//! endpoint is covered as soon as it is routed.

use crate::harness::*;
use axum::http::{Method, StatusCode, header};
use serde_json::{Value, json};
use warden_server::http::edge::{MAX_QUERY_VALUE_CHARS, MAX_SEGMENT_CHARS};
use warden_testkit::both;

/// A plausible value for a path parameter (the hostile one replaces one).
fn plausible(name: &str) -> &'static str {
    match name {
        "tenant" => "acme",
        "name" => "treasury",
        "version" => "1.0.0",
        _ => "x",
    }
}

/// `(case, encoded value)` of the hostile values for a bound of `max` characters.
fn hostile(max: usize) -> Vec<(&'static str, String)> {
    vec![
        ("a NUL", "a%00b".to_owned()),
        ("bad UTF-8", "a%FF%FEb".to_owned()),
        ("one over the bound", "x".repeat(max + 1)),
    ]
}

async fn send(app: &App, method: &Method, uri: &str) -> Resp {
    // A body of the operation's usual kind: the check must come first anyway.
    app.call(
        method.clone(),
        uri,
        Some(&app.admin()),
        Some("application/json"),
        b"{}".to_vec(),
        &[],
    )
    .await
}

#[track_caller]
fn refused(r: &Resp, parameter: &str, what: &str) {
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{what}: {:?}", r.json);
    assert_eq!(r.problem(), "invalid-parameter", "{what}: {:?}", r.json);
    assert_eq!(r.json["parameter"], parameter, "{what}: {:?}", r.json);
    assert_eq!(
        r.headers[header::CONTENT_TYPE],
        "application/problem+json",
        "{what}"
    );
}

both!(
    every_documented_parameter_is_checked_at_the_edge,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({})).await;
        let doc = app
            .call(Method::GET, "/openapi.json", None, None, Vec::new(), &[])
            .await
            .json;
        let mut checked = 0;
        for (template, item) in doc["paths"].as_object().unwrap() {
            for (method, op) in item.as_object().unwrap() {
                let method: Method = method.to_uppercase().parse().unwrap();
                let params: Vec<(String, String)> = op["parameters"]
                    .as_array()
                    .map(|ps| {
                        ps.iter()
                            .map(|p| {
                                let s = |k: &str| p[k].as_str().unwrap_or_default().to_owned();
                                (s("name"), s("in"))
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                let path_with = |hostile: Option<(&str, &str)>| {
                    let mut path = template.clone();
                    for (name, place) in &params {
                        if place == "path" {
                            let value = match hostile {
                                Some((n, v)) if n == name => v.to_owned(),
                                _ => plausible(name).to_owned(),
                            };
                            path = path.replace(&format!("{{{name}}}"), &value);
                        }
                    }
                    path
                };
                for (name, place) in &params {
                    let max = match place.as_str() {
                        "path" => MAX_SEGMENT_CHARS,
                        "query" => MAX_QUERY_VALUE_CHARS,
                        _ => continue,
                    };
                    for (case, value) in hostile(max) {
                        let uri = if place == "path" {
                            path_with(Some((name, &value)))
                        } else {
                            format!("{}?{name}={value}", path_with(None))
                        };
                        let what = format!("{method} {template}: {case} in `{name}`");
                        refused(&send(&app, &method, &uri).await, name, &what);
                        checked += 1;
                    }
                }
            }
        }
        // Every parameterised operation was tried (a floor that fails if
        // the document stopped listing parameters).
        assert!(checked > 100, "only {checked} cases");
        // Nothing of it reached the store: acme is as it was.
        let r = app.get("/v1/tenants/acme", &app.admin()).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["display_name"], Value::from("acme"));
    }
);
