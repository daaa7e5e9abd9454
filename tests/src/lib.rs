//! warden's workspace-level tests: the built-in packs run through the engine
//! (`tests/packs/`), the README's examples (`tests/readme.rs`) and the layout
//! rules (`tests/layout.rs`); and the schemathesis API test (`api/`). Each
//! crate's own tests live with it (`host/*/tests/`); the harness they share
//! is `warden-testkit`. The package has no library code.
