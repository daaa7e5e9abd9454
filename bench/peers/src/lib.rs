//! warden against the peer policy engines: see `benches/decide.rs` and
//! `BENCHMARKS.md`. The crate has no library code of its own.
