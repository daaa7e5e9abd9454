//! Approvals end to end: an escalation opens a request bound to its
//! decision; approvers vote through the inbox API; deadlines fire exactly
//! once; the runtime waits and redeems once; every transition is in the
//! tenant's hash-chained log. Races run many times, on both backends.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::approval_kit::*;
use crate::harness::*;
use axum::http::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use warden_server::auth::Role;
use warden_testkit::both;

/// `acme` on treasury (payments over its threshold escalate, route
/// `finance`) with the approval `policy` saved as version 1.
async fn setup(app: &App, policy: Value) {
    app.tenant_with("acme", &["treasury"], json!({})).await;
    save(app, 0, policy).await;
}

fn alice_approves(sla: &str) -> Value {
    one_policy(json!([{"approvers": [{"user": "alice"}], "sla": sla}]))
}

/// The kinds of the approval events of run `request_id`, in log order.
async fn story(app: &App, request_id: &str) -> Vec<String> {
    let r = app
        .get(
            &format!("/v1/tenants/acme/trace/runs/{request_id}"),
            &app.token("acme", &[Role::Auditor]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    r.json["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect()
}

fn count(kinds: &[String], kind: &str) -> usize {
    kinds.iter().filter(|k| *k == kind).count()
}

async fn verifies(app: &App) {
    let r = app
        .get(
            "/v1/tenants/acme/trace/verify",
            &app.token("acme", &[Role::Auditor]),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert!(r.json["fault"].is_null(), "{:?}", r.json);
    assert!(r.json["events"].as_u64().unwrap() > 0);
}

both!(
    an_escalation_is_approved_waited_for_and_redeemed_once,
    |app: App| async move {
        setup(&app, alice_approves("1h")).await;
        let d = escalate(&app, "pay-1", None).await;
        let a = &d["approval"];
        assert_eq!(a["status"], "pending", "{d:?}");
        assert_eq!(a["policy"], "p");
        assert!(a["deadline"].as_str().unwrap().ends_with('Z'));
        let id = approval_id(&d);
        let digest = a["request_digest"].as_str().unwrap().to_owned();
        assert!(
            digest.starts_with("sha256:") && digest.len() == 71,
            "{digest}"
        );

        // Bound to the decision and the configuration it was made under.
        let v = get(&app, &id).await;
        assert_eq!(v["decision_id"], d["decision_id"]);
        assert_eq!(v["configuration"], d["configuration"]);
        assert_eq!(v["request"]["action"]["counterparty"], "ACME GmbH");
        assert_eq!(v["routes"], json!(["finance"]));
        assert!(!v["findings"].as_array().unwrap().is_empty());
        assert_eq!(v["step"]["approvers"], json!([{"user": "alice"}]));

        // The inbox: alice sees it, bob does not; neither bob, a runtime nor
        // an operator can vote.
        let alice = approver(&app, "alice", &[]);
        let bob = approver(&app, "bob", &[]);
        let inbox = |t: String| {
            let app = &app;
            async move {
                let r = app.get("/v1/tenants/acme/approvals", &t).await;
                assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
                r.json["items"].as_array().unwrap().len()
            }
        };
        assert_eq!(inbox(alice.clone()).await, 1);
        assert_eq!(inbox(bob.clone()).await, 0);
        let r = vote(&app, &bob, &id, "approve", None).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.json);
        assert_eq!(r.json["code"], "not-eligible");
        for t in [
            app.token("acme", &[Role::Runtime]),
            app.token("acme", &[Role::Operator]),
        ] {
            let r = vote(&app, &t, &id, "approve", None).await;
            assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.json);
        }
        // Not yet approved: nothing to redeem.
        let rt = app.token("acme", &[Role::Runtime]);
        let redeem = |digest: String| {
            let (app, rt, id) = (&app, rt.clone(), id.clone());
            async move {
                app.post(
                    &format!("/v1/tenants/acme/approvals/{id}/redeem"),
                    &rt,
                    &json!({"request_digest": digest}),
                )
                .await
            }
        };
        let r = redeem(digest.clone()).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
        assert_eq!(r.json["code"], "not-approved");

        // The runtime waits; alice approves; the wait returns `approved`.
        let waiter = {
            let (state, id) = (app.state.clone(), id.clone());
            tokio::spawn(async move {
                warden_server::approvals::service::wait(
                    &state,
                    "acme",
                    &id,
                    Duration::from_secs(20),
                )
                .await
                .unwrap()
            })
        };
        tokio::time::sleep(Duration::from_millis(100)).await;
        let r = vote(&app, &alice, &id, "approve", Some("invoice checked")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["status"], "approved");
        assert_eq!(r.json["resolution"]["cause"], "votes");
        let waited = tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter was woken by the vote")
            .unwrap();
        assert_eq!(waited.status.as_str(), "approved");
        assert_eq!(
            inbox(alice.clone()).await,
            0,
            "resolved requests leave the inbox"
        );
        let r = vote(&app, &alice, &id, "approve", None).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
        assert_eq!(r.json["code"], "resolved");

        // Redeemed once, for this action only.
        let other = format!("sha256:{}", "0".repeat(64));
        let r = redeem(other).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
        assert_eq!(r.json["code"], "other-action");
        let r = redeem(digest.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert!(r.json["redeemed"].is_string());
        let r = redeem(digest).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
        assert_eq!(r.json["code"], "redeemed");

        // The whole story is in the run, in order, and the log verifies.
        let kinds = story(&app, "pay-1").await;
        assert_eq!(
            kinds,
            [
                "decision",
                "approval-requested",
                "approval-step-started",
                "approval-vote",
                "approval-resolved",
                "approval-redeemed"
            ],
            "{kinds:?}"
        );
        verifies(&app).await;
    }
);

both!(
    quorum_groups_self_approval_and_denials,
    |app: App| async move {
        setup(
        &app,
        json!({"default_policy": "two", "policies": {"two": {
            "reason_required": true,
            "steps": [{"approvers": [{"group": "finance"}], "quorum": 2, "denials": 1, "sla": "1h"}]}}}),
    )
    .await;
        let (ann, ben, carl) = (
            approver(&app, "ann", &["finance"]),
            approver(&app, "ben", &["finance", "ops"]),
            approver(&app, "carl", &["finance"]),
        );
        let d = escalate(&app, "pay-q", Some("carl")).await;
        let id = approval_id(&d);
        // Carl asked for it (the agent acts on his behalf): he may not approve.
        let r = vote(&app, &carl, &id, "approve", Some("mine")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.json);
        assert_eq!(r.json["code"], "self-approval");
        // The policy wants reasons.
        let r = vote(&app, &ann, &id, "approve", None).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json);
        assert_eq!(r.json["field"], "reason");
        let r = vote(&app, &ann, &id, "approve", Some("ok")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["status"], "pending", "one of two");
        assert_eq!(r.json["step"]["approvals"], 1);
        let r = vote(&app, &ann, &id, "approve", Some("again")).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
        assert_eq!(r.json["code"], "voted-already");
        let r = vote(&app, &ben, &id, "approve", Some("ok too")).await;
        assert_eq!(r.json["status"], "approved", "{:?}", r.json);

        // Any eligible deny denies; a deny always needs a reason.
        let d = escalate(&app, "pay-d", None).await;
        let id = approval_id(&d);
        let r = vote(&app, &ann, &id, "approve", Some("fine")).await;
        assert_eq!(r.json["status"], "pending");
        let r = vote(&app, &ben, &id, "deny", Some("   ")).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json);
        let r = vote(&app, &ben, &id, "deny", Some("unknown vendor")).await;
        assert_eq!(r.json["status"], "denied", "{:?}", r.json);
        assert_eq!(r.json["resolution"]["outcome"], "deny");
        let kinds = story(&app, "pay-d").await;
        assert_eq!(count(&kinds, "approval-vote"), 2);
        assert_eq!(count(&kinds, "approval-resolved"), 1);
        verifies(&app).await;
    }
);

both!(
    agent_approvers_are_advisory_unless_counted,
    |app: App| async move {
        let steps = json!([{"approvers": [{"agent": "risk-bot"}, {"user": "alice"}], "sla": "1h"}]);
        setup(
            &app,
            json!({"default_policy": "p", "policies": {"p": {"steps": steps}}}),
        )
        .await;
        let bot = app.token_for("risk-bot", "acme", &[Role::Agent], &[]);
        let id = approval_id(&escalate(&app, "pay-a1", None).await);
        let r = vote(&app, &bot, &id, "approve", Some("looks routine")).await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["status"], "pending", "advisory: {:?}", r.json);
        assert_eq!(r.json["votes"][0]["counted"], false);
        assert_eq!(r.json["votes"][0]["voter"], "agent:risk-bot");
        // A person's token with the bot's name is not the bot.
        let imposter = approver(&app, "risk-bot", &[]);
        let r = vote(&app, &imposter, &id, "approve", Some("x")).await;
        assert_eq!(r.json["code"], "not-eligible", "{:?}", r.json);

        let counting = json!({"default_policy": "p", "policies": {"p": {
        "agent_votes": "count", "steps": steps}}});
        save(&app, 1, counting).await;
        let id = approval_id(&escalate(&app, "pay-a2", None).await);
        let r = vote(&app, &bot, &id, "approve", Some("looks routine")).await;
        assert_eq!(r.json["status"], "approved", "{:?}", r.json);
    }
);

both!(
    in_flight_requests_keep_their_policy_version,
    |app: App| async move {
        setup(&app, alice_approves("1h")).await;
        let old = approval_id(&escalate(&app, "pay-v1", None).await);
        let r = save(
            &app,
            1,
            one_policy(json!([{"approvers": [{"user": "bob"}], "sla": "2h"}])),
        )
        .await;
        assert_eq!(r.json["version"], 2);
        let new = escalate(&app, "pay-v2", None).await;
        let v = get(&app, &approval_id(&new)).await;
        assert_eq!(v["policy_version"], 2);
        assert_eq!(v["step"]["approvers"], json!([{"user": "bob"}]));
        let v = get(&app, &old).await;
        assert_eq!(v["policy_version"], 1);
        let alice = approver(&app, "alice", &[]);
        let r = vote(&app, &alice, &old, "approve", Some("ok")).await;
        assert_eq!(r.json["status"], "approved", "{:?}", r.json);
        // A stale edit is refused; the document is unchanged.
        let op = app.token("acme", &[Role::Operator]);
        let r = app
            .put(
                "/v1/tenants/acme/approval-policy",
                &op,
                &json!({"version": 1, "policy": alice_approves("1h")}),
            )
            .await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
        assert_eq!(r.json["current_version"], 2);
    }
);

both!(
    routing_picks_the_first_matching_rule,
    |app: App| async move {
        let p = |who: &str| json!({"steps": [{"approvers": [{"user": who}], "sla": "1h"}]});
        setup(
        &app,
        json!({
            "routes": [
                {"name": "small", "match": {"amount": {"currency": "EUR", "max_minor_units": 100_000}}, "policy": "clerk"},
                {"name": "acme", "match": {"counterparty": ["ACME *"], "route": ["fin*"], "safety_class": ["financial"]}, "policy": "cfo"},
                {"name": "shadowed", "match": {"tool": ["payments.*"]}, "policy": "clerk"}
            ],
            "default_policy": "default",
            "policies": {"clerk": p("clerk"), "cfo": p("cfo"), "default": p("dflt")}
        }),
    )
    .await;
        let id = approval_id(&escalate(&app, "pay-r1", None).await);
        let v = get(&app, &id).await;
        assert_eq!(v["rule"], "acme");
        assert_eq!(v["policy"], "cfo");
    }
);

both!(
    deadlines_step_on_deny_and_allow_only_where_listed,
    |app: App| async move {
        let st = app.state.clone();
        setup(
        &app,
        json!({"default_policy": "chain", "allow_on_timeout": ["read-only"], "policies": {
            "chain": {"steps": [
                {"approvers": [{"user": "alice"}], "sla": "1s", "on_timeout": "next"},
                {"approvers": [{"user": "bob"}], "sla": "1s"}]},
            "lenient": {"steps": [{"approvers": [{"user": "alice"}], "sla": "1s", "on_timeout": "allow"}]}},
            "routes": [{"name": "small", "match": {"amount": {"currency": "EUR", "max_minor_units": 460_000}}, "policy": "lenient"}]
        }),
    )
    .await;
        // 450_000 EUR routes to `lenient`, but payments are not `read-only`:
        // its deadline denies.
        let lenient = approval_id(&escalate(&app, "pay-t0", None).await);
        let rt = app.token("acme", &[Role::Runtime]);
        let r = app
            .post(
                "/v1/tenants/acme/evaluate",
                &rt,
                &payment("acme", "pay-t1", 900_000),
            )
            .await;
        let chain = approval_id(&r.json);
        assert_eq!(
            warden_server::approvals::timers::fire_due(&st).await,
            0,
            "nothing is due yet"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let alice = approver(&app, "alice", &[]);
        let r = vote(&app, &alice, &chain, "approve", Some("late")).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
        assert_eq!(r.json["code"], "deadline-passed");
        assert_eq!(warden_server::approvals::timers::fire_due(&st).await, 2);
        assert_eq!(
            warden_server::approvals::timers::fire_due(&st).await,
            0,
            "fired once"
        );
        let v = get(&app, &lenient).await;
        assert_eq!(v["status"], "timed-out", "{v:?}");
        assert_eq!(v["resolution"]["cause"], "timeout");
        let v = get(&app, &chain).await;
        assert_eq!(v["status"], "pending");
        assert_eq!(v["step"]["index"], 1);
        assert_eq!(v["step"]["approvers"], json!([{"user": "bob"}]));
        // Alice's step is over: she may not vote on bob's.
        let r = vote(&app, &alice, &chain, "approve", Some("x")).await;
        assert_eq!(r.json["code"], "not-eligible", "{:?}", r.json);
        tokio::time::sleep(Duration::from_millis(1100)).await;
        assert_eq!(warden_server::approvals::timers::fire_due(&st).await, 1);
        let v = get(&app, &chain).await;
        assert_eq!(v["status"], "timed-out");
        let kinds = story(&app, "pay-t1").await;
        assert_eq!(count(&kinds, "approval-timed-out"), 2, "{kinds:?}");
        assert_eq!(count(&kinds, "approval-step-started"), 2, "{kinds:?}");
        assert_eq!(count(&kinds, "approval-resolved"), 1, "{kinds:?}");
        verifies(&app).await;
    }
);

both!(
    racing_votes_and_deadlines_resolve_exactly_once,
    |app: App| async move {
        let st = app.state.clone();
        setup(
            &app,
            json!({"default_policy": "p", "policies": {"p": {"steps": [
            {"approvers": [{"group": "finance"}], "quorum": 2, "sla": "1s"}]}}}),
        )
        .await;
        let members: Vec<String> = (0..3)
            .map(|i| approver(&app, &format!("m{i}"), &["finance"]))
            .collect();
        let mut ids = Vec::new();
        for i in 0..12 {
            ids.push(approval_id(
                &escalate(&app, &format!("race-{i}"), None).await,
            ));
        }
        // Two approvals racing for quorum, a deny racing both, and the
        // deadline racing all three (the first requests are just past it when
        // the timer looks, the last just before).
        tokio::time::sleep(Duration::from_millis(950)).await;
        let mut jobs = Vec::new();
        for id in &ids {
            for (m, choice) in members.iter().zip(["approve", "approve", "deny"]) {
                let app = &app;
                jobs.push(async move { vote(app, m, id, choice, Some("r")).await.status });
            }
        }
        let (statuses, _) = tokio::join!(futures::future::join_all(jobs), async {
            tokio::time::sleep(Duration::from_millis(60)).await;
            warden_server::approvals::timers::fire_due(&st).await
        });
        for s in &statuses {
            assert!(
                [StatusCode::OK, StatusCode::CONFLICT].contains(s),
                "a vote failed for a reason other than losing: {s}"
            );
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        warden_server::approvals::timers::fire_due(&st).await;
        for (i, id) in ids.iter().enumerate() {
            let v = get(&app, id).await;
            assert_ne!(v["status"], "pending", "{v:?}");
            let kinds = story(&app, &format!("race-{i}")).await;
            assert_eq!(count(&kinds, "approval-resolved"), 1, "{kinds:?}");
            let votes = v["votes"].as_array().unwrap();
            let mut voters: Vec<&str> =
                votes.iter().map(|v| v["voter"].as_str().unwrap()).collect();
            voters.dedup();
            assert_eq!(voters.len(), votes.len(), "no double vote: {votes:?}");
            assert_eq!(count(&kinds, "approval-vote"), votes.len(), "{kinds:?}");
            match v["status"].as_str().unwrap() {
                "approved" => {
                    assert_eq!(votes.iter().filter(|v| v["choice"] == "approve").count(), 2)
                }
                "denied" => assert_eq!(votes.last().unwrap()["choice"], "deny"),
                "timed-out" => assert!(votes.len() < 3),
                s => panic!("unexpected status {s}"),
            }
        }
        verifies(&app).await;
    }
);

both!(
    hostile_input_is_refused_and_nothing_is_stored,
    |app: App| async move {
        setup(&app, alice_approves("1h")).await;
        let op = app.token("acme", &[Role::Operator]);
        let bad = [
            (
                json!({"default_policy": "x", "policies": {"p": {"steps": [{"approvers": [{"user": "a"}], "sla": "1h"}]}}}),
                "default_policy",
            ),
            (
                json!({"default_policy": "p", "policies": {"p": {"steps": []}}}),
                "policies.p.steps",
            ),
            (
                json!({"default_policy": "p", "policies": {"p": {"steps": [{"approvers": [{"user": "a"}], "sla": "soon"}]}}}),
                "policies.p.steps[0].sla",
            ),
            (
                json!({"default_policy": "p", "policies": {"p": {"steps": [{"approvers": [{"user": "a"}], "sla": "90d"}]}}}),
                "policies.p.steps[0].sla",
            ),
            (
                json!({"default_policy": "p", "policies": {"p": {"steps": [{"approvers": [{"user": "a"}], "quorum": 2, "sla": "1h"}]}}}),
                "policies.p.steps[0].quorum",
            ),
            (
                json!({"default_policy": "p", "policies": {"p": {"steps": [{"approvers": [{"user": "a"}], "sla": "1h", "on_timeout": "next"}]}}}),
                "policies.p.steps[0].on_timeout",
            ),
            (
                json!({"default_policy": "p", "policies": {"p": {"steps": [{"approvers": [{"user": "a\u{0}"}], "sla": "1h"}]}}}),
                "policies.p.steps[0].approvers[0]",
            ),
            (
                json!({"default_policy": "p", "routes": [{"name": "r", "match": {"tool": ["pay[ab]"]}, "policy": "p"}], "policies": {"p": {"steps": [{"approvers": [{"user": "a"}], "sla": "1h"}]}}}),
                "routes[0].match.tool[0]",
            ),
            (
                json!({"default_policy": "p", "routes": [{"name": "r", "match": {"amount": {"currency": "eur"}}, "policy": "p"}], "policies": {"p": {"steps": [{"approvers": [{"user": "a"}], "sla": "1h"}]}}}),
                "routes[0].match.amount.currency",
            ),
            (
                json!({"default_policy": "p", "routes": [{"name": "r", "match": {"amount": {"currency": "EUR", "min_minor_units": 5, "max_minor_units": 1}}, "policy": "p"}], "policies": {"p": {"steps": [{"approvers": [{"user": "a"}], "sla": "1h"}]}}}),
                "routes[0].match.amount.min_minor_units",
            ),
            (
                json!({"default_policy": "p", "routes": [{"name": "r", "policy": "nope"}], "policies": {"p": {"steps": [{"approvers": [{"user": "a"}], "sla": "1h"}]}}}),
                "routes[0].policy",
            ),
        ];
        let hook = |url: &str| {
            json!({"default_policy": "p", "policies": {"p": {"webhooks": [{"url": url}],
            "steps": [{"approvers": [{"user": "a"}], "sla": "1h"}]}}})
        };
        let mut bad = bad.to_vec();
        for url in [
            "ftp://example.com/x",
            "http://user:pw@example.com/",
            "not a url",
            "https://",
            &format!("https://example.com/{}", "a".repeat(2100)),
        ] {
            bad.push((hook(url), "policies.p.webhooks[0].url"));
        }
        for (policy, field) in bad {
            let r = app
                .put(
                    "/v1/tenants/acme/approval-policy",
                    &op,
                    &json!({"version": 1, "policy": policy}),
                )
                .await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{field}: {:?}",
                r.json
            );
            assert_eq!(r.json["field"], field, "{:?}", r.json);
        }
        let r = app
        .put(
            "/v1/tenants/acme/approval-policy",
            &op,
            &json!({"version": 1, "policy": {"default_policy": "p", "policies": {}, "extra": 1}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.json);
        let r = app.get("/v1/tenants/acme/approval-policy", &op).await;
        assert_eq!(r.json["version"], 1, "nothing was stored: {:?}", r.json);

        let id = approval_id(&escalate(&app, "pay-h", None).await);
        let alice = approver(&app, "alice", &[]);
        for (reason, what) in [("a\u{0}b", "NUL"), (&*"x".repeat(5000), "oversized")] {
            let r = vote(&app, &alice, &id, "deny", Some(reason)).await;
            assert_eq!(
                r.status,
                StatusCode::UNPROCESSABLE_ENTITY,
                "{what}: {:?}",
                r.json
            );
            assert_eq!(r.json["field"], "reason", "{what}");
        }
        assert_eq!(
            get(&app, &id).await["votes"],
            json!([]),
            "no vote was stored"
        );
        // Another tenant's approver, and ids that are not approvals of acme.
        app.tenant_with("beta", &["treasury"], json!({})).await;
        let beta = app.token_for("alice", "beta", &[Role::Approver], &[]);
        let r = vote(&app, &beta, &id, "approve", Some("x")).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{:?}", r.json);
        let r = app
            .get(&format!("/v1/tenants/beta/approvals/{id}"), &beta)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.json);
        for bad_id in ["nope", "%00", &"a".repeat(300)] {
            let r = app
                .get(&format!("/v1/tenants/acme/approvals/{bad_id}"), &alice)
                .await;
            assert!(r.status.is_client_error(), "{bad_id}: {:?}", r.json);
        }
        let r = app
            .get(
                &format!("/v1/tenants/acme/approvals/{id}/wait?timeout_s=61"),
                &alice,
            )
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{:?}", r.json);
    }
);

both!(
    escalations_without_a_policy_open_nothing,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({})).await;
        let op = app.token("acme", &[Role::Operator]);
        let r = app.get("/v1/tenants/acme/approval-policy", &op).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{:?}", r.json);
        let d = escalate(&app, "pay-n", None).await;
        assert!(d.get("approval").is_none(), "{d:?}");
        // Decisions that do not escalate never open one.
        save(&app, 0, alice_approves("1h")).await;
        let rt = app.token("acme", &[Role::Runtime]);
        let r = app
            .post(
                "/v1/tenants/acme/evaluate",
                &rt,
                &payment("acme", "small", 100),
            )
            .await;
        assert_eq!(
            r.json["verdict"], "deny",
            "treasury alone finds nothing to allow"
        );
        assert!(r.json.get("approval").is_none(), "{:?}", r.json);
    }
);

/// Whether `sub` with `groups` finds approval `id` in their inbox.
async fn sees(app: &App, id: &str, sub: &str, groups: &[&str]) -> bool {
    let t = approver(app, sub, groups);
    let r = app.get("/v1/tenants/acme/approvals", &t).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["id"] == id)
}

both!(the_inbox_matches_approvers_exactly, |app: App| async move {
    setup(
        &app,
        one_policy(json!([{"approvers": [{"group": "fin_ops"}, {"user": "ann_b"}], "sla": "1h"}])),
    )
    .await;
    let id = approval_id(&escalate(&app, "exact-1", None).await);
    assert!(sees(&app, &id, "x", &["fin_ops"]).await, "the group itself");
    assert!(sees(&app, &id, "ann_b", &[]).await, "the user itself");
    // `_` and `%` are characters here, not LIKE's wildcards; spaces never match.
    assert!(!sees(&app, &id, "x", &["finXops"]).await);
    assert!(!sees(&app, &id, "annXb", &[]).await);
    assert!(!sees(&app, &id, "%", &["%"]).await);
    assert!(!sees(&app, &id, "x", &["fin ops", "fin_ ops"]).await);
    assert!(
        !sees(&app, &id, "ann b", &[]).await,
        "an approver left with no usable token sees nothing"
    );
});
