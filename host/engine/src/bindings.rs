//! The one `bindgen!` of the host: Rust types for the `warden:policy` WIT.
#![allow(missing_docs)]

wasmtime::component::bindgen!({
    path: "../../wit",
    world: "warden:policy/pack",
});

pub use warden::policy::types as wit;

/// The contract version this host implements.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The exported interface's name without version.
pub const POLICY_INTERFACE: &str = "warden:policy/policy";
