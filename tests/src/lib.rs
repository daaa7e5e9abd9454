//! Test support for warden's end-to-end tests and benchmarks: the built-in and
//! fixture packs, built from source for `wasm32-wasip2` by this crate's build
//! script, and sample requests.

use std::path::PathBuf;
use std::sync::Arc;
use warden_host::{Engine, Pack};

/// Directory holding `<name>.wasm` for every built pack.
pub const PACKS_DIR: &str = env!("WARDEN_PACKS_DIR");

/// The built-in packs, in the order the demo composition uses.
pub const BUILT_IN: [&str; 3] = warden_host::BUILT_IN_PACKS;

/// Path of a built pack: `treasury`, `pii-strict`, `external-tools-untrusted`,
/// or a fixture: `hostile`, `clock-user`, `dup-rules`.
pub fn pack_path(name: &str) -> PathBuf {
    PathBuf::from(PACKS_DIR).join(format!("{name}.wasm"))
}

/// Bytes of a built pack.
pub fn pack_bytes(name: &str) -> Vec<u8> {
    std::fs::read(pack_path(name)).unwrap_or_default()
}

/// Loads the three built-in packs.
pub fn built_in(engine: &Engine) -> Result<Vec<Arc<Pack>>, warden_host::LoadError> {
    BUILT_IN
        .iter()
        .map(|n| engine.load_pack_file(pack_path(n)))
        .collect()
}
