//! warden's end-to-end tests: the engine with the built-in and hostile packs,
//! the control plane through its router on SQLite and PostgreSQL, the CLI,
//! the README's examples, and the layout rules. They are the integration
//! tests of this package (`tests/tests/`); their harness is `warden-testkit`.
//! The package has no library code.
