//! One bad request fails alone: requests the store could not hold (NUL
//! characters, oversized identifiers) or of the wrong shape are refused at
//! the edge naming the field, while the valid decisions sent beside them,
//! singly or in the same batch, are all made and recorded.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{Value, json};
use warden_server::auth::Role;
use warden_server::trace::EventClass;
use warden_server::trace_log::appender::Appender;
use warden_store::{EventIndex, NewEvent};
use warden_testkit::both;

/// Poisoned variants of a valid payment, each with the field it names.
fn poisoned() -> Vec<(&'static str, Value)> {
    let long = "x".repeat(3000);
    let mut cases = Vec::new();
    let mut set = |field: &'static str, edit: &dyn Fn(&mut Value)| {
        let mut v = payment("acme", "bad", 1_000);
        edit(&mut v);
        cases.push((field, v));
    };
    set("id", &|v| v["id"] = "r\u{0}1".into());
    set("principal.agent", &|v| {
        v["principal"]["agent"] = "bot\u{0}".into()
    });
    set("action.tool", &|v| v["action"]["tool"] = "pay\u{0}".into());
    set("action.tool", &|v| {
        v["action"]["tool"] = long.as_str().into()
    });
    set("id", &|v| v["id"] = long.as_str().into());
    set("principal.agent", &|v| {
        v["principal"]["agent"] = long.as_str().into()
    });
    set("action.args", &|v| {
        v["action"]["args"] = "not an object".into()
    });
    set("context", &|v| {
        v["context"] = json!(["not", "an", "object"])
    });
    cases
}

both!(a_poisoned_request_fails_alone, |app: App| async move {
    let app = app;
    app.tenant_with("acme", &["treasury"], json!({"default_effect": "allow"}))
        .await;
    let rt = app.token("acme", &[Role::Runtime]);
    // Valid and poisoned requests interleaved, all in flight at once, so
    // they land in the same group-commit batches.
    let mut good_bodies = Vec::new();
    let mut bad_bodies = Vec::new();
    for round in 0..4 {
        for i in 0..10 {
            good_bodies.push(payment("acme", &format!("ok-{round}-{i}"), 1_000));
        }
        bad_bodies.extend(poisoned());
    }
    let (app_ref, rt_ref) = (&app, &rt);
    let good: Vec<_> = good_bodies
        .iter()
        .map(|body| app_ref.post("/v1/tenants/acme/evaluate", rt_ref, body))
        .collect();
    let bad: Vec<_> = bad_bodies
        .iter()
        .map(|(field, body)| async move {
            (
                *field,
                app_ref
                    .post("/v1/tenants/acme/evaluate", rt_ref, body)
                    .await,
            )
        })
        .collect();
    let (good, bad) = tokio::join!(
        futures::future::join_all(good),
        futures::future::join_all(bad)
    );
    for r in &good {
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    }
    for (field, r) in &bad {
        assert_eq!(
            r.status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{field}: {:?}",
            r.json
        );
        assert_eq!(r.json["field"], *field, "{:?}", r.json);
        assert!(r.detail().contains(field), "{:?}", r.json);
    }

    // A batch: each poisoned item gets its error in place, the rest are decided.
    let mut items = Vec::new();
    let mut expect = Vec::new();
    for (i, (field, body)) in poisoned().into_iter().enumerate() {
        items.push(payment("acme", &format!("batch-ok-{i}"), 1_000));
        expect.push(None);
        items.push(body);
        expect.push(Some(field));
    }
    let r = app
        .post(
            "/v1/tenants/acme/evaluate/batch",
            &rt,
            &json!({"requests": items}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    let results = r.json["results"].as_array().unwrap();
    assert_eq!(results.len(), expect.len());
    for (got, want) in results.iter().zip(&expect) {
        match want {
            None => assert_eq!(got["verdict"], "allow", "{got:?}"),
            Some(field) => {
                assert_eq!(got["error"]["status"], 422, "{got:?}");
                assert_eq!(got["error"]["field"], *field, "{got:?}");
            }
        }
    }

    // Every valid decision is in the log, and the chain verifies.
    let audit = app.token("acme", &[Role::Auditor]);
    let v = app.get("/v1/tenants/acme/trace/verify", &audit).await;
    assert_eq!(v.status, StatusCode::OK, "{:?}", v.json);
    assert!(v.json["fault"].is_null(), "{:?}", v.json);
    let decided = good.len() + expect.iter().filter(|e| e.is_none()).count();
    let store = app.state.store().clone();
    let rows = store.trace_rows("acme", 0, 100_000).await.unwrap();
    let decisions = rows.iter().filter(|r| r.kind == "decision").count();
    assert_eq!(decisions, decided);
});

fn event(agent: &str) -> NewEvent {
    NewEvent::new(
        1_700_000_000_000,
        EventClass::Action,
        "decision",
        &json!({"agent": agent}),
    )
    .unwrap()
    .with_index(EventIndex {
        agent: Some(agent.to_owned()),
        ..EventIndex::default()
    })
}

/// Behind the edge's validation: should the database still refuse one
/// event of a group-commit batch (PostgreSQL cannot store a NUL), the
/// appender retries the batch request by request and only that one fails.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_appender_fails_only_the_event_the_database_refuses() {
    let app = App::new(Backend::Postgres).await;
    let store = app.state.store().clone();
    let appender = Appender::start(store.clone());
    for round in 0..5 {
        let mut tasks = Vec::new();
        for i in 0..20 {
            let appender = appender.clone();
            let agent = if i == 7 {
                "bad\u{0}agent".to_owned()
            } else {
                format!("bot-{round}-{i}")
            };
            tasks.push(tokio::spawn(async move {
                (i, appender.append("acme", vec![event(&agent)]).await)
            }));
        }
        for t in tasks {
            let (i, r) = t.await.unwrap();
            if i == 7 {
                assert!(r.is_err(), "the NUL event was stored");
            } else {
                assert_eq!(r.unwrap().len(), 1);
            }
        }
    }
    let report = store.trace_verify("acme").await.unwrap();
    assert!(report.fault.is_none(), "{report:?}");
    assert_eq!(report.last_seq, 5 * 19);
}
