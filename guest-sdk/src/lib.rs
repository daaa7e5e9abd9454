//! # warden-sdk
//!
//! Write a warden policy pack in plain Rust. A pack is a list of rules; each
//! rule is a serde struct of parameters implementing [`Rule`]. The [`pack!`]
//! macro turns the list into a WebAssembly component exporting the
//! `warden:policy` contract when built for `wasm32-wasip2`, and into a
//! [`PackDef`] you can test natively with `cargo test`.
//!
//! ```ignore
//! warden_sdk::pack! {
//!     name: "my-pack",
//!     summary: "What my pack checks",
//!     rules: [NoDeletes],
//! }
//! ```
//!
//! Pack authors depend on this crate only; the WIT bindings are generated
//! here and hidden.
#![deny(missing_docs)]

mod glue;
mod helpers;
mod pack;
pub mod testing;
mod types;

pub use helpers::{
    Amount, glob_match, has_any_tag, json_path, minor_unit_exponent, tool_matches, visit_strings,
};
pub use pack::{PackDef, Rule, RuleEntry};
pub use serde;
pub use serde_json;
pub use types::{
    Action, Finding, Money, Outcome, PackInfo, Principal, Request, RuleInfo, RuleSettings,
    SafetyClass, Strictness, Verdict,
};

#[doc(hidden)]
pub use glue::__glue;

/// Generated WIT bindings; not part of the public API.
#[doc(hidden)]
#[allow(unsafe_code, missing_docs, clippy::all)]
pub mod __bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "warden:policy/pack",
        pub_export_macro: true,
        export_macro_name: "__export_pack",
        default_bindings_module: "warden_sdk::__bindings",
        generate_all,
    });
}

/// Defines the crate's pack: `PACK`, a [`PackDef`] for native tests, and on
/// `wasm32` the component exports.
///
/// ```ignore
/// warden_sdk::pack! {
///     name: "treasury",
///     summary: "Spending limits and counterparties for financial tools",
///     rules: [AmountLimit, ApprovalThreshold],
/// }
/// ```
///
/// The version is the crate's `CARGO_PKG_VERSION`.
#[macro_export]
macro_rules! pack {
    (name: $name:literal, summary: $summary:literal, rules: [$($rule:ty),+ $(,)?] $(,)?) => {
        /// This crate's pack, for native tests and the component exports.
        pub static PACK: $crate::PackDef = $crate::PackDef::new(
            $name,
            env!("CARGO_PKG_VERSION"),
            $summary,
            &[$($crate::RuleEntry::of::<$rule>()),+],
        );

        #[cfg(target_arch = "wasm32")]
        const _: () = {
            use $crate::__bindings::exports::warden::policy::policy as wit;

            struct WardenPackExports;

            impl wit::Guest for WardenPackExports {
                fn info() -> wit::PackInfo {
                    $crate::__glue::info(&PACK)
                }

                fn check_settings(settings: ::std::vec::Vec<wit::RuleSettings>) -> ::std::result::Result<(), ::std::string::String> {
                    $crate::__glue::check_settings(&PACK, settings)
                }

                fn evaluate(
                    req: wit::Request,
                    settings: ::std::vec::Vec<wit::RuleSettings>,
                ) -> ::std::result::Result<::std::vec::Vec<wit::Finding>, ::std::string::String> {
                    $crate::__glue::evaluate(&PACK, req, settings)
                }
            }

            $crate::__bindings::__export_pack!(WardenPackExports with_types_in $crate::__bindings);
        };
    };
}
