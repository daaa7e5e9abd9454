//! Many tenants on one engine: idle reused instances are bounded
//! fleet-wide, so no tenant's decision or composition fails for lack of an
//! instance slot while others hold idle ones; and when slots really run
//! out, the failure says so instead of blaming the tenant's settings.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use std::sync::Arc;
use warden_host::{
    ComposeError, Composition, CompositionSpec, Engine, EngineConfig, Isolation, Request, Verdict,
};
use warden_testkit::pack_path;

fn engine(max_instances: u32, max_idle: Option<usize>) -> Engine {
    Engine::with_config(EngineConfig {
        max_instances,
        max_idle_instances: max_idle,
        ..EngineConfig::default()
    })
    .unwrap()
}

fn request(tenant: &str) -> Request {
    serde_json::from_value(
        json!({"id": "r", "tenant": tenant, "principal": {"agent": "a"},
        "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
                   "amount": {"minor_units": 1000, "currency": "EUR"}}}),
    )
    .unwrap()
}

#[test]
fn idle_instances_are_bounded_across_tenants() {
    // 60 instance slots, at most 20 of them idle; 150 tenants x 3 packs in
    // reuse mode would want 450 idle instances.
    let engine = engine(60, Some(20));
    let packs: Vec<_> = warden_testkit::packs::built_in(&engine).unwrap();
    let spec = CompositionSpec {
        isolation: Isolation::Reuse,
        default_effect: Verdict::Allow,
        ..CompositionSpec::default()
    };
    let tenants: Vec<Arc<Composition>> = (0..150)
        .map(|i| Arc::new(Composition::build(format!("t{i}"), packs.clone(), &spec).unwrap()))
        .collect();
    for round in 0..2 {
        for (i, c) in tenants.iter().enumerate() {
            let d = c.evaluate(&request(&format!("t{i}")));
            assert_ne!(
                d.verdict,
                Verdict::Deny,
                "round {round}, t{i}: {}",
                d.reason
            );
            assert!(
                d.explanation.packs.iter().all(|p| p.status == "ok"),
                "round {round}, t{i}: {:?}",
                d.explanation.packs
            );
            assert!(engine.idle_instances() <= 20, "{}", engine.idle_instances());
        }
    }
    // The most recently used tenants kept their instances.
    let last = tenants.last().unwrap().evaluate(&request("t149"));
    assert!(last.explanation.packs.iter().all(|p| p.reused_instance));
    // Dropping compositions gives their idle instances back.
    drop(tenants);
    assert_eq!(engine.idle_instances(), 0);
}

#[test]
fn idle_instances_give_way_to_new_compositions_and_decisions() {
    // Every slot idle in other tenants' pools (the idle bound allows it):
    // a new composition must still build and decide, taking a slot from
    // the idle ones instead of failing (or blaming its settings).
    let engine = engine(6, Some(6));
    let treasury = engine.load_pack_file(pack_path("treasury")).unwrap();
    let spec = CompositionSpec {
        isolation: Isolation::Reuse,
        ..CompositionSpec::default()
    };
    let others: Vec<_> = (0..6)
        .map(|i| Composition::build(format!("o{i}"), vec![treasury.clone()], &spec).unwrap())
        .collect();
    for (i, c) in others.iter().enumerate() {
        c.evaluate(&request(&format!("o{i}")));
    }
    assert_eq!(engine.idle_instances(), 6);
    let new = match Composition::build("new", vec![treasury.clone()], &spec) {
        Ok(c) => c,
        Err(e @ ComposeError::CheckFailed { .. }) => panic!("no slot was freed: {e}"),
        Err(e) => panic!("a full pool blamed the settings: {e}"),
    };
    let d = new.evaluate(&request("new"));
    assert_eq!(d.explanation.packs[0].status, "ok", "{}", d.reason);
    assert!(engine.idle_instances() <= 6);
}
