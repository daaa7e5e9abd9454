//! The packs tests load: built from source by this crate's build script
//! into one directory ([`PACKS_DIR`]), each as `<name>.wasm`.

use std::path::PathBuf;
use std::sync::Arc;
use warden_host::{Engine, Pack};

/// Directory holding `<name>.wasm` for every built pack.
pub const PACKS_DIR: &str = env!("WARDEN_PACKS_DIR");

/// The built-in packs, in the order the demo composition uses.
pub const BUILT_IN: [&str; 3] = warden_host::BUILT_IN_PACKS;

/// Path of a built pack: `treasury`, `pii-strict`, `external-tools-untrusted`,
/// `no-friday-deploys`, or a fixture: `hostile`, `clock-user`, `dup-rules`,
/// `rollout-v1` to `rollout-v3`.
pub fn pack_path(name: &str) -> PathBuf {
    PathBuf::from(PACKS_DIR).join(format!("{name}.wasm"))
}

/// Bytes of a built pack; panics when there is no such pack.
pub fn pack_bytes(name: &str) -> Vec<u8> {
    let path = pack_path(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read `{}`: {e}", path.display()))
}

/// Loads the three built-in packs.
pub fn built_in(engine: &Engine) -> Result<Vec<Arc<Pack>>, warden_host::LoadError> {
    BUILT_IN
        .iter()
        .map(|n| engine.load_pack_file(pack_path(n)))
        .collect()
}

/// A temporary directory holding only the built-in packs, as
/// `warden serve --builtin-packs` reads them.
pub fn built_in_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for n in BUILT_IN {
        std::fs::copy(pack_path(n), dir.path().join(format!("{n}.wasm"))).unwrap();
    }
    dir
}
