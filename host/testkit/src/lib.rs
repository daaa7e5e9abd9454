//! # warden-testkit
//!
//! What every warden crate's tests share, so there is one harness instead of
//! one per test folder:
//!
//! - [`packs`]: the built-in, example and hostile fixture packs, built from
//!   source for `wasm32-wasip2` by this crate's build script (tests never use
//!   checked-in binaries);
//! - [`engine`]: one engine per test binary and packs compiled once, for
//!   library-level tests;
//! - `pg` (feature `server`, on by default, like the two below): a fresh
//!   PostgreSQL database per test, dropped afterwards;
//! - `keys`: a token issuer and a trusted pack publisher, with their
//!   public keys written as PEM files for `warden serve`;
//! - `app`: a control plane per test on SQLite or PostgreSQL, driven
//!   through its router, and `both!`, which runs a test on both backends.
//!
//! Test code: it panics on any setup failure, with a message saying what
//! is missing.
#![allow(clippy::unwrap_used, clippy::expect_used)]
#![deny(missing_docs)]

#[cfg(feature = "server")]
pub mod app;
pub mod engine;
#[cfg(feature = "server")]
pub mod keys;
pub mod packs;
#[cfg(feature = "server")]
pub mod pg;

#[cfg(feature = "server")]
pub use app::{App, Backend, Resp};
#[cfg(feature = "server")]
pub use keys::TestKeys;
pub use packs::{BUILT_IN, PACKS_DIR, pack_bytes, pack_path};
#[cfg(feature = "server")]
pub use pg::PgDb;
