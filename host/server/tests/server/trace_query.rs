//! Reading the trace log over HTTP: filters, pagination, one run's events,
//! the streamed export (which verifies offline), and tenant isolation.

use crate::harness::*;
use axum::http::{StatusCode, header};
use serde_json::{Value, json};
use warden_server::auth::Role;
use warden_server::trace::EventClass;
use warden_store::{NewEvent, StoredRow, class_key};
use warden_testkit::both;

/// A request by `agent` calling `tool` of `class`.
fn call(t: &str, id: &str, agent: &str, tool: &str, class: &str) -> Value {
    json!({"id": id, "tenant": t, "principal": {"agent": agent},
           "action": {"tool": tool, "safety_class": class}})
}

/// What the fixture decided, in order.
struct Story {
    /// `decision_id` of each decision: r1, r2, r3, r4, r2 again.
    ids: Vec<String>,
    /// The version of external-tools-untrusted that served.
    ext_version: String,
}

/// Decisions on `acme`: two payments under treasury alone (allow, escalate),
/// then under treasury and external-tools-untrusted a denied external tool
/// (`scraper`, `shell.exec`), an allowed one (`http.get`) and a retry of r2.
/// Tenant `beta` decides a request with the same id `r1`.
async fn story(app: &App) -> Story {
    let allow = json!({"default_effect": "allow"});
    app.tenant_with("acme", &["treasury"], allow.clone()).await;
    app.tenant_with("beta", &["treasury"], allow).await;
    let rt = app.token("acme", &[Role::Runtime]);
    let mut ids = Vec::new();
    let mut decide = async |body: Value, verdict: &str| -> Value {
        let r = app.post("/v1/tenants/acme/evaluate", &rt, &body).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["verdict"], verdict, "{:?}", r.json);
        ids.push(r.json["decision_id"].as_str().unwrap().to_owned());
        r.json
    };
    decide(payment("acme", "r1", 1_000), "allow").await;
    decide(payment("acme", "r2", 450_000), "escalate").await;
    let r = app
        .put(
            "/v1/tenants/acme/composition",
            &app.admin(),
            &json!({"version": 1, "composition": {
                "packs": [{"name": "treasury"}, {"name": "external-tools-untrusted"}],
                "default_effect": "allow"}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    decide(
        call("acme", "r3", "scraper", "shell.exec", "external"),
        "deny",
    )
    .await;
    let d = decide(
        call("acme", "r4", "scraper", "http.get", "external"),
        "allow",
    )
    .await;
    decide(payment("acme", "r2", 450_000), "escalate").await;
    let ext_version = d["serving"][1]["version"].as_str().unwrap().to_owned();
    assert_eq!(d["serving"][1]["pack"], "external-tools-untrusted");
    let r = app
        .post(
            "/v1/tenants/beta/evaluate",
            &app.token("beta", &[Role::Runtime]),
            &payment("beta", "r1", 1_000),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    Story { ids, ext_version }
}

/// Every event matching `query`, walking pages of `limit`; checks the
/// pages join without gaps or repeats.
async fn walk(app: &App, token: &str, query: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..1000 {
        let mut path = format!("/v1/tenants/acme/trace/events?limit={limit}");
        if !query.is_empty() {
            path.push('&');
            path.push_str(query);
        }
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let r = app.get(&path, token).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {:?}", r.json);
        let page = r.json["items"].as_array().unwrap();
        assert!(page.len() <= limit);
        items.extend(page.iter().cloned());
        match r.json["next_cursor"].as_str() {
            Some(c) => {
                assert_eq!(page.len(), limit, "a short page with a cursor");
                assert_eq!(c, page.last().unwrap()["seq"].to_string());
                cursor = Some(c.to_owned());
            }
            None => return items,
        }
    }
    panic!("pagination does not end");
}

fn seqs(items: &[Value]) -> Vec<u64> {
    items.iter().map(|e| e["seq"].as_u64().unwrap()).collect()
}

/// The sequence numbers of `all` that `keep` selects.
fn expect(all: &[Value], keep: impl Fn(&Value) -> bool) -> Vec<u64> {
    seqs(&all.iter().filter(|e| keep(e)).cloned().collect::<Vec<_>>())
}

fn is_decision(e: &Value) -> bool {
    e["kind"] == "decision"
}

both!(filters_select_exactly_their_events, |app: App| async move {
    let s = story(&app).await;
    let auditor = app.token("acme", &[Role::Auditor]);
    let all = walk(&app, &auditor, "", 500).await;
    let (head, _) = app.state.store().trace_head("acme").await.unwrap().unwrap();
    assert_eq!(seqs(&all), (1..=head).collect::<Vec<_>>());
    assert_eq!(all.iter().filter(|e| is_decision(e)).count(), 5);
    // Each item: seq, RFC 3339 time, class, kind, the parsed body, hashes.
    let first = &all[0];
    assert_eq!(first["kind"], "tenant-created");
    assert_eq!(first["class"], "admin");
    assert!(first["at"].as_str().unwrap().ends_with('Z'), "{first}");
    assert_eq!(first["body"]["detail"]["display_name"], "acme", "{first}");
    assert_eq!(first["hash"], all[1]["prev"]);
    assert!(first.get("pruned").is_none());

    let agent = |e: &Value| e["body"]["request"]["principal"]["agent"].clone();
    let tool = |e: &Value| e["body"]["request"]["action"]["tool"].clone();
    let rid = |e: &Value| e["body"]["request"]["id"].clone();
    let served = |e: &Value, pack: &str| {
        e["body"]["packs"]
            .as_array()
            .is_some_and(|ps| ps.iter().any(|p| p["pack"] == pack))
    };
    let ext = format!("external-tools-untrusted@{}", s.ext_version);
    let cases: Vec<(String, Vec<u64>)> = vec![
        (
            "agent=scraper".into(),
            expect(&all, |e| agent(e) == "scraper"),
        ),
        (
            "agent=billing-bot&verdict=escalate".into(),
            expect(&all, |e| {
                agent(e) == "billing-bot" && e["body"]["verdict"] == "escalate"
            }),
        ),
        (
            "tool=shell.exec".into(),
            expect(&all, |e| tool(e) == "shell.exec"),
        ),
        (
            "verdict=allow".into(),
            expect(&all, |e| is_decision(e) && e["body"]["verdict"] == "allow"),
        ),
        (
            "verdict=deny".into(),
            expect(&all, |e| is_decision(e) && e["body"]["verdict"] == "deny"),
        ),
        ("pack=treasury".into(), expect(&all, is_decision)),
        ("pack=treasury@1.0.0".into(), expect(&all, is_decision)),
        ("pack=treasury@9.9.9".into(), vec![]),
        ("pack=treasur".into(), vec![]),
        (
            "pack=external-tools-untrusted".into(),
            expect(&all, |e| served(e, "external-tools-untrusted")),
        ),
        (
            format!("pack={ext}"),
            expect(&all, |e| served(e, "external-tools-untrusted")),
        ),
        (
            format!("decision_id={}", s.ids[2]),
            expect(&all, |e| e["body"]["decision_id"] == s.ids[2].as_str()),
        ),
        (
            "request_id=r2".into(),
            expect(&all, |e| is_decision(e) && rid(e) == "r2"),
        ),
        (
            "kind=configuration".into(),
            expect(&all, |e| e["kind"] == "configuration"),
        ),
        (
            "class=financial".into(),
            expect(&all, |e| e["class"] == "financial"),
        ),
        (
            "class=action".into(),
            expect(&all, |e| e["class"] == "action"),
        ),
        (
            "class=admin&kind=composition-changed".into(),
            expect(&all, |e| e["kind"] == "composition-changed"),
        ),
        ("agent=nobody".into(), vec![]),
    ];
    for (q, want) in &cases {
        let got = seqs(&walk(&app, &auditor, q, 2).await);
        assert_eq!(&got, want, "{q}");
    }
    // The fixture's shape: these are not vacuous.
    assert_eq!(cases[0].1.len(), 2);
    assert_eq!(cases[1].1.len(), 2);
    assert_eq!(cases[2].1.len(), 1);
    assert_eq!(cases[9].1.len(), 3);
    assert_eq!(cases[12].1.len(), 2);
    assert_eq!(cases[13].1.len(), 2);
    // Time bounds: `from` inclusive, `to` exclusive, any offset.
    let pivot = all
        .iter()
        .find(|e| is_decision(e) && rid(e) == "r3")
        .unwrap();
    let at = pivot["at"].as_str().unwrap();
    let got = seqs(&walk(&app, &auditor, &format!("from={at}"), 3).await);
    assert_eq!(got, expect(&all, |e| e["at"].as_str().unwrap() >= at));
    assert!(got.contains(&pivot["seq"].as_u64().unwrap()));
    let got = seqs(&walk(&app, &auditor, &format!("to={at}"), 3).await);
    assert_eq!(got, expect(&all, |e| e["at"].as_str().unwrap() < at));
    // The same instant written in another offset (`+` escaped as `%2B`).
    let plus_one = shift_hour(at);
    let got = seqs(&walk(&app, &auditor, &format!("from={plus_one}"), 500).await);
    assert_eq!(got, expect(&all, |e| e["at"].as_str().unwrap() >= at));
});

/// The same instant with a non-zero offset, URL-encoded:
/// `...T09:00:00.123Z` as `...T10:00:00.123+01:00` (at 23h, `...T22...-01:00`).
fn shift_hour(at: &str) -> String {
    let hour: u32 = at[11..13].parse().unwrap();
    if hour == 23 {
        // Express the same instant with a negative offset instead.
        return format!(
            "{}T{:02}{}-01:00",
            &at[..10],
            hour - 1,
            &at[13..at.len() - 1]
        );
    }
    format!(
        "{}T{:02}{}%2B01:00",
        &at[..10],
        hour + 1,
        &at[13..at.len() - 1]
    )
}

both!(pagination_walks_the_whole_log, |app: App| async move {
    story(&app).await;
    let admin = app.admin();
    let all = walk(&app, &admin, "", 500).await;
    let n = all.len();
    assert!(n >= 10, "{n}");
    for limit in [1, 2, 3, 7, n - 1, n, n + 1] {
        let got = walk(&app, &admin, "", limit).await;
        assert_eq!(seqs(&got), seqs(&all), "limit {limit}");
        assert_eq!(got, all, "limit {limit}");
    }
    // Default page size 100; the cursor continues after a sequence number.
    let r = app
        .get("/v1/tenants/acme/trace/events?cursor=3&limit=2", &admin)
        .await;
    assert_eq!(seqs(r.json["items"].as_array().unwrap()), vec![4, 5]);
    assert_eq!(r.json["next_cursor"], "5");
    let r = app.get("/v1/tenants/acme/trace/events", &admin).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), n);
    assert!(r.json["next_cursor"].is_null());
});

both!(bad_filters_are_named, |app: App| async move {
    app.tenant_with("acme", &["treasury"], json!({})).await;
    let auditor = app.token("acme", &[Role::Auditor]);
    for (path, param) in [
        ("events?from=yesterday", "from"),
        ("events?to=1700000000000", "to"),
        ("events?from=2025-01-31T09:00:00", "from"),
        ("events?verdict=maybe", "verdict"),
        ("events?pack=Treasury", "pack"),
        ("events?pack=treasury@1.0", "pack"),
        ("events?class=secret", "class"),
        ("events?agent=", "agent"),
        ("events?decision_id=", "decision_id"),
        (
            "events?from=2025-01-31T09:00:00Z&to=2025-01-31T08:00:00Z",
            "to",
        ),
        ("export?from_seq=0", "from_seq"),
        ("export?to_seq=last", "to_seq"),
        ("export?from_seq=5&to_seq=2", "to_seq"),
        ("export?from=now", "from"),
    ] {
        let r = app
            .get(&format!("/v1/tenants/acme/trace/{path}"), &auditor)
            .await;
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{path}: {:?}",
            r.json
        );
        assert_eq!(r.problem(), "unprocessable", "{path}");
        assert_eq!(r.json["parameter"], param, "{path}: {:?}", r.json);
        assert!(
            r.detail().contains(&format!("`{param}`")),
            "{path}: {:?}",
            r.json
        );
    }
    // Pagination and unknown parameters are 400s, as on every list.
    for (path, needle) in [
        ("events?limit=0", "`limit`"),
        ("events?limit=501", "`limit`"),
        ("events?cursor=abc", "`cursor`"),
        ("events?agnet=x", "agnet"),
        ("export?limit=5", "limit"),
    ] {
        let r = app
            .get(&format!("/v1/tenants/acme/trace/{path}"), &auditor)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{path}: {:?}", r.json);
        assert_eq!(r.problem(), "invalid-parameter", "{path}");
        assert!(r.detail().contains(needle), "{path}: {:?}", r.json);
    }
    let admin = app.admin();
    let r = app.get("/v1/tenants/ghost/trace/events", &admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.get("/v1/tenants/acme/trace/runs/nope", &admin).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.detail().contains("`nope`"), "{:?}", r.json);
});

both!(runs_and_tenants_stay_apart, |app: App| async move {
    let s = story(&app).await;
    // A beta token, even with every role, reads nothing of acme's.
    let beta = app.token(
        "beta",
        &[
            Role::Auditor,
            Role::Operator,
            Role::FleetAdmin,
            Role::Runtime,
        ],
    );
    for path in ["events", "runs/r1", "export", "events?request_id=r1"] {
        let r = app
            .get(&format!("/v1/tenants/acme/trace/{path}"), &beta)
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}");
    }
    // One run's story: r2 was decided twice, in order.
    let auditor = app.token("acme", &[Role::Auditor]);
    let r = app.get("/v1/tenants/acme/trace/runs/r2", &auditor).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["request_id"], "r2");
    let events = r.json["events"].as_array().unwrap();
    assert_eq!(events.len(), 2);
    assert!(events[0]["seq"].as_u64() < events[1]["seq"].as_u64());
    assert_eq!(events[0]["body"]["decision_id"], s.ids[1].as_str());
    assert_eq!(events[1]["body"]["decision_id"], s.ids[4].as_str());
    assert!(r.json.get("truncated").is_none());
    // A fleet admin sees the requested tenant's events only, though beta
    // decided a request with the same id.
    let admin = app.admin();
    for t in ["acme", "beta"] {
        let r = app
            .get(&format!("/v1/tenants/{t}/trace/runs/r1"), &admin)
            .await;
        let events = r.json["events"].as_array().unwrap();
        assert_eq!(events.len(), 1, "{t}");
        assert_eq!(events[0]["body"]["request"]["tenant"], t);
        let all = app
            .get(&format!("/v1/tenants/{t}/trace/events?limit=500"), &admin)
            .await;
        for e in all.json["items"].as_array().unwrap() {
            if e["kind"] == "decision" {
                assert_eq!(e["body"]["request"]["tenant"], t, "{e}");
            }
        }
        let r = app
            .get(&format!("/v1/tenants/{t}/trace/export"), &admin)
            .await;
        for line in String::from_utf8(r.bytes).unwrap().lines() {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["event"]["tenant"], t);
        }
    }
});

both!(exports_stream_lines_that_verify, |app: App| async move {
    story(&app).await;
    let store = app.state.store().clone();
    // More than one page of the store (1000 rows).
    let batch: Vec<NewEvent> = (0..2100)
        .map(|i| {
            NewEvent::new(
                1_700_000_000_000 + i,
                EventClass::Action,
                "note",
                &json!({"n": i}),
            )
            .unwrap()
        })
        .collect();
    store.trace_append("acme", &batch).await.unwrap();
    let (head, _) = store.trace_head("acme").await.unwrap().unwrap();
    let auditor = app.token("acme", &[Role::Auditor]);
    let r = app.get("/v1/tenants/acme/trace/export", &auditor).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/x-ndjson");
    let text = String::from_utf8(r.bytes.clone()).unwrap();
    assert_eq!(text.lines().count() as u64, head);
    assert!(text.ends_with('\n'));
    let report = warden_server::trace::verify_ndjson(r.bytes.as_slice(), "acme", None);
    assert!(report.ok(), "{report:?}");
    assert_eq!(report.last_seq, head);
    // Each line is exactly the stored row's export line.
    let rows = store.trace_rows("acme", 0, 100_000).await.unwrap();
    for (line, row) in text.lines().zip(&rows) {
        assert_eq!(line, row.to_line("acme"));
    }
    // A stretch by sequence number, and by time: contiguous, in order.
    let seq_of = |line: &str| -> u64 {
        serde_json::from_str::<Value>(line).unwrap()["event"]["seq"]
            .as_u64()
            .unwrap()
    };
    let r = app
        .get(
            "/v1/tenants/acme/trace/export?from_seq=3&to_seq=1500",
            &auditor,
        )
        .await;
    let got: Vec<u64> = String::from_utf8(r.bytes)
        .unwrap()
        .lines()
        .map(seq_of)
        .collect();
    assert_eq!(got, (3..=1500).collect::<Vec<_>>());
    // The appended notes are dated 2023: `to` ends the export before them.
    let r = app
        .get(
            "/v1/tenants/acme/trace/export?from=2023-11-14T22:13:20.005Z&to=2023-11-14T22:13:20.010Z",
            &auditor,
        )
        .await;
    let got: Vec<u64> = String::from_utf8(r.bytes)
        .unwrap()
        .lines()
        .map(seq_of)
        .collect();
    let first = rows
        .iter()
        .find(|r| r.at_ms == 1_700_000_000_005)
        .unwrap()
        .seq;
    assert_eq!(got, (first..first + 5).collect::<Vec<_>>());
    let r = app
        .get("/v1/tenants/acme/trace/export?from_seq=99999", &auditor)
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.bytes.is_empty());

    // A tombstone: the content is gone, the hashes stay.
    let t = StoredRow {
        event: String::new(),
        pruned: true,
        ..rows[4].clone()
    };
    let line: Value = serde_json::from_str(&t.to_line("acme")).unwrap();
    assert_eq!(
        line,
        json!({"prev": t.prev, "hash": t.hash, "pruned": {"tenant": "acme", "seq": t.seq,
               "at_ms": t.at_ms, "class": class_key(t.class), "kind": t.kind}})
    );
    // The query shows it as `pruned: true` without a body.
    sqlx_exec(
        &app,
        &format!(
            "UPDATE trace_events SET event = '', pruned = 1 WHERE tenant = 'acme' AND seq = {}",
            t.seq
        ),
    )
    .await;
    let r = app
        .get(
            &format!("/v1/tenants/acme/trace/events?cursor={}&limit=1", t.seq - 1),
            &auditor,
        )
        .await;
    let item = &r.json["items"][0];
    assert_eq!(item["seq"], t.seq);
    assert_eq!(item["pruned"], true, "{item}");
    assert!(item.get("body").is_none(), "{item}");
    assert_eq!(item["hash"], t.hash.as_str());
    let r = app
        .get(
            &format!("/v1/tenants/acme/trace/export?to_seq={}", t.seq),
            &auditor,
        )
        .await;
    let last = String::from_utf8(r.bytes)
        .unwrap()
        .lines()
        .last()
        .unwrap()
        .to_owned();
    assert_eq!(last, t.to_line("acme"));
});

async fn sqlx_exec(app: &App, sql: &str) {
    sqlx::query(sql)
        .execute(app.state.store().pool())
        .await
        .unwrap();
}
