//! Embedding warden in an agent runtime: load packs from bytes, build a
//! tenant's composition with an override layer, and decide in-process.
//!
//! Run with `cargo run -p warden-host --example embed` after `cargo xtask packs`.

use std::sync::Arc;
use warden_host::{Composition, CompositionSpec, Engine, EngineConfig, Request, Verdict};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // One engine per process; it compiles packs once and caches the artifacts.
    let engine = Engine::with_config(EngineConfig {
        cache_dir: Some(std::env::temp_dir().join("warden-embed-cache")),
        ..EngineConfig::default()
    })?;

    // Packs are plain bytes: from disk here, from your artifact store in production.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/packs");
    let mut packs = Vec::new();
    for name in warden_host::BUILT_IN_PACKS {
        let bytes = std::fs::read(dir.join(format!("{name}.wasm")))
            .map_err(|e| format!("{name}.wasm: {e} (run `cargo xtask packs` first)"))?;
        packs.push(engine.load_pack(&bytes)?);
    }

    // The tenant's settings: allow when no rule applies, reuse instances
    // within this tenant, and a tenant layer that routes approvals to the CFO.
    let spec = CompositionSpec::from_json(
        r#"{"default_effect": "allow", "isolation": "reuse",
            "layers": [{"name": "tenant:acme", "packs":
                {"treasury": {"approval-threshold": {"params": {"route": "cfo"}}}}}]}"#,
    )?;
    let composition = Arc::new(Composition::build("acme", packs, &spec)?);

    let request = Request::from_json(
        r#"{"id": "req-1", "tenant": "acme",
            "principal": {"agent": "billing-bot", "on_behalf_of": "alice"},
            "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
                       "amount": {"minor_units": 250000, "currency": "EUR"},
                       "counterparty": "ACME GmbH", "args": {"invoice": "INV-7"}}}"#,
    )?;
    let decision = composition.evaluate(&request);
    println!(
        "{} -> {:?}: {}",
        request.id, decision.verdict, decision.reason
    );
    if decision.verdict == Verdict::Escalate {
        println!("route to: {}", decision.routes.join(", "));
    }
    for run in &decision.explanation.packs {
        println!(
            "  {}@{} {} in {} µs",
            run.pack,
            run.version,
            run.status,
            run.elapsed_ns / 1000
        );
    }
    Ok(())
}
