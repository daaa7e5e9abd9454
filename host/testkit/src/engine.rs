//! Library-level helpers: one engine per test binary, packs compiled once,
//! compositions and requests built from JSON.

use crate::packs::pack_path;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};
use warden_host::{Composition, CompositionSpec, Engine, EngineConfig, Isolation, Pack, Request};

/// One engine for the whole test binary, with a short deadline (100 ms) so
/// hostile loops end fast.
pub fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::with_config(EngineConfig {
            deadline: std::time::Duration::from_millis(100),
            ..EngineConfig::default()
        })
        .unwrap()
    })
}

/// A loaded pack; each pack is compiled once per test binary.
pub fn pack(name: &str) -> Arc<Pack> {
    static PACKS: OnceLock<Mutex<BTreeMap<String, Arc<Pack>>>> = OnceLock::new();
    let mut packs = PACKS.get_or_init(Default::default).lock().unwrap();
    packs
        .entry(name.to_owned())
        .or_insert_with(|| engine().load_pack_file(pack_path(name)).unwrap())
        .clone()
}

/// `packs` composed for `tenant` under `spec` (a [`CompositionSpec`] as JSON).
pub fn compose(tenant: &str, packs: &[&str], spec: Value) -> Composition {
    let spec: CompositionSpec = serde_json::from_value(spec).unwrap();
    Composition::build(tenant, packs.iter().map(|n| pack(n)).collect(), &spec).unwrap()
}

/// A spec that only sets the isolation mode.
pub fn with_isolation(isolation: Isolation) -> Value {
    json!({"isolation": isolation})
}

/// A request of tenant `acme` for `tool` with `class`, plus extra action fields.
pub fn request(tool: &str, class: &str, extra: Value) -> Request {
    let mut action = json!({"tool": tool, "safety_class": class});
    if let (Some(a), Value::Object(e)) = (action.as_object_mut(), extra) {
        a.extend(e);
    }
    let doc = json!({
        "id": format!("req-{tool}"),
        "tenant": "acme",
        "principal": {"agent": "test-agent"},
        "action": action,
    });
    serde_json::from_value(doc).unwrap()
}
