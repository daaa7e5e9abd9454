//! # warden-host
//!
//! Loads warden policy packs (WebAssembly components built with `warden-sdk`)
//! into a sandboxed wasmtime engine, composes them per tenant with override
//! layers, and evaluates agent actions into an explained decision: allow,
//! deny or escalate.
//!
//! ```no_run
//! use std::sync::Arc;
//! use warden_host::{Composition, CompositionSpec, Engine, Request};
//!
//! let engine = Engine::new()?;
//! let pack = engine.load_pack_file("target/packs/treasury.wasm")?;
//! let composition = Composition::build("acme", vec![pack], &CompositionSpec::default())?;
//! let request = Request::from_json(r#"{"id": "r1", "tenant": "acme",
//!     "principal": {"agent": "billing-bot"},
//!     "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
//!                "amount": {"minor_units": 125000, "currency": "EUR"}}}"#)?;
//! let decision = composition.evaluate(&request);
//! println!("{:?}: {}", decision.verdict, decision.reason);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Evaluation never returns an error: a pack that fails becomes a fail-closed
//! deny finding in the decision.
#![deny(missing_docs)]

mod bindings;
#[cfg(feature = "tokio")]
mod blocking;
mod breaker;
mod cache;
mod compose;
mod decide;
pub mod diff;
mod engine;
mod error;
mod idle;
pub mod json_object;
mod layers;
mod pack;
mod pool;
mod request;
pub mod rollout;
mod sandbox;
mod verdict;

pub use bindings::CONTRACT_VERSION;

/// The built-in packs, each a folder of `packs/` in the source tree, in the
/// order the demo composition uses. `cargo xtask packs` builds them into
/// `target/packs/<name>.wasm`.
pub const BUILT_IN_PACKS: [&str; 3] = ["treasury", "pii-strict", "external-tools-untrusted"];
pub use breaker::{BreakerConfig, BreakerState, BreakerStatus, Breakers, Transition};
pub use compose::{Composition, CompositionSpec, Isolation};
pub use decide::{
    Basis, Decision, Explanation, FindingRecord, OVERLOADED_RULE, PACK_FAILURE_RULE, PackRun,
    QUARANTINED_STATUS, combine,
};
pub use engine::{Engine, EngineConfig};
pub use error::{ComposeError, InputError, LoadError};
pub use layers::{DEFAULTS, EffectiveRule, FLEET_LAYER, Layer, RuleOverride, tightens};
pub use pack::{Pack, PackInfo, RuleInfo, Strictness, pack_digest};
pub use pool::{Busy, EvalPool, PoolConfig};
pub use request::{Action, Money, Principal, Request, SafetyClass, ValidRequest};
pub use verdict::Verdict;
