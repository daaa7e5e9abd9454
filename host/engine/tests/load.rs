//! Loading packs: validation, clear errors for hostile or wrong input, and the
//! compiled-artifact cache.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use warden_host::{Engine, EngineConfig, LoadError};
use warden_testkit::{BUILT_IN, pack_bytes, pack_path};

#[test]
fn built_in_packs_load_with_their_metadata() {
    let engine = Engine::new().unwrap();
    for name in BUILT_IN {
        let pack = engine.load_pack_file(pack_path(name)).unwrap();
        assert_eq!(pack.name(), name);
        assert_eq!(pack.version().to_string(), "1.0.0");
        assert!(pack.digest().starts_with("sha256:") && pack.digest().len() == 71);
        assert!(pack.info().rules.len() >= 3, "{name} has few rules");
        assert!(
            pack.imports().iter().all(|i| i.starts_with("wasi:io/")
                || i.starts_with("wasi:cli/")
                || i.starts_with("warden:policy/types@")),
            "{name} imports {:?}",
            pack.imports()
        );
        assert!(
            pack.exports()
                .iter()
                .any(|e| e == "warden:policy/policy@0.1.0")
        );
    }
}

#[test]
fn the_digest_is_the_sha256_of_the_bytes() {
    let engine = Engine::new().unwrap();
    let a = engine.load_pack(&pack_bytes("treasury")).unwrap();
    let b = engine.load_pack(&pack_bytes("pii-strict")).unwrap();
    assert_ne!(a.digest(), b.digest());
    assert_eq!(
        a.digest(),
        engine.load_pack(&pack_bytes("treasury")).unwrap().digest()
    );
}

#[test]
fn non_wasm_is_rejected() {
    let engine = Engine::new().unwrap();
    let err = engine.load_pack(b"{\"not\": \"wasm\"}").unwrap_err();
    assert!(matches!(err, LoadError::NotWasm), "{err}");
    assert!(matches!(
        engine.load_pack(b"").unwrap_err(),
        LoadError::NotWasm
    ));
}

#[test]
fn a_core_module_is_rejected_with_a_hint() {
    let engine = Engine::new().unwrap();
    let err = engine.load_pack(b"\0asm\x01\0\0\0").unwrap_err();
    assert!(matches!(err, LoadError::CoreModule));
    assert!(err.to_string().contains("wasm32-wasip2"), "{err}");
}

#[test]
fn a_component_of_another_world_is_rejected() {
    let engine = Engine::new().unwrap();
    // The smallest valid component: no imports, no exports.
    let err = engine.load_pack(b"\0asm\x0d\0\x01\0").unwrap_err();
    assert!(matches!(err, LoadError::MissingExport { .. }), "{err}");
    assert!(err.to_string().contains("`warden:policy/policy`"), "{err}");
}

#[test]
fn a_truncated_component_is_invalid() {
    let engine = Engine::new().unwrap();
    let bytes = pack_bytes("treasury");
    let err = engine.load_pack(&bytes[..bytes.len() / 2]).unwrap_err();
    assert!(matches!(err, LoadError::Invalid(_)), "{err}");
}

#[test]
fn oversized_packs_are_rejected_before_compiling() {
    let engine = Engine::with_config(EngineConfig {
        max_pack_size: 1024,
        ..EngineConfig::default()
    })
    .unwrap();
    let err = engine.load_pack(&pack_bytes("treasury")).unwrap_err();
    assert!(
        matches!(err, LoadError::TooLarge { limit: 1024, .. }),
        "{err}"
    );
    assert_eq!(engine.cache_stats(), (0, 0, 0));
}

#[test]
fn a_pack_importing_a_capability_is_rejected_naming_the_import() {
    let engine = Engine::new().unwrap();
    let err = engine.load_pack_file(pack_path("clock-user")).unwrap_err();
    let LoadError::ForbiddenImport { import } = &err else {
        panic!("expected a forbidden import, got {err}");
    };
    assert!(import.starts_with("wasi:clocks/"), "{import}");
    assert!(err.to_string().contains(&format!("`{import}`")));
}

#[test]
fn duplicate_rule_ids_are_rejected() {
    let engine = Engine::new().unwrap();
    let err = engine.load_pack_file(pack_path("dup-rules")).unwrap_err();
    assert!(matches!(err, LoadError::Metadata(_)), "{err}");
    assert!(
        err.to_string().contains("rule id `twin` is declared twice"),
        "{err}"
    );
}

#[test]
fn a_missing_file_names_the_path() {
    let engine = Engine::new().unwrap();
    let err = engine.load_pack_file("/nonexistent/pack.wasm").unwrap_err();
    assert!(
        err.to_string().contains("`/nonexistent/pack.wasm`"),
        "{err}"
    );
}

fn cached_engine(dir: &std::path::Path) -> Engine {
    Engine::with_config(EngineConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..EngineConfig::default()
    })
    .unwrap()
}

#[test]
fn compiled_packs_are_cached_across_engines() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = pack_bytes("treasury");
    let first = cached_engine(dir.path());
    let a = first.load_pack(&bytes).unwrap();
    assert_eq!(first.cache_stats(), (0, 1, 0));
    drop(first);

    let second = cached_engine(dir.path());
    let b = second.load_pack(&bytes).unwrap();
    assert_eq!(
        second.cache_stats(),
        (1, 0, 0),
        "a restart loads from the cache"
    );
    assert_eq!(a.info(), b.info());
}

#[test]
fn tampered_or_foreign_artifacts_are_never_loaded() {
    let dir = tempfile::tempdir().unwrap();
    let bytes = pack_bytes("treasury");
    cached_engine(dir.path()).load_pack(&bytes).unwrap();
    let artifact = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("an artifact was written");

    // Flip one byte in the middle of the compiled code.
    let mut data = std::fs::read(&artifact).unwrap();
    let mid = data.len() / 2;
    data[mid] ^= 0xff;
    std::fs::write(&artifact, &data).unwrap();
    let engine = cached_engine(dir.path());
    let pack = engine.load_pack(&bytes).unwrap();
    assert_eq!(engine.cache_stats(), (0, 1, 1), "rejected, then recompiled");
    assert_eq!(pack.name(), "treasury");

    // An artifact written by someone without the cache key is rejected too.
    let other = tempfile::tempdir().unwrap();
    cached_engine(other.path()).load_pack(&bytes).unwrap();
    let foreign = std::fs::read_dir(other.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .unwrap();
    std::fs::copy(&foreign, &artifact).unwrap();
    let engine = cached_engine(dir.path());
    engine.load_pack(&bytes).unwrap();
    assert_eq!(engine.cache_stats(), (0, 1, 1));
}
