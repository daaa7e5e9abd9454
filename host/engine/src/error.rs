//! Error types of the host library. Evaluation itself never returns an error:
//! failures of packs become fail-closed findings in the decision.

use std::path::PathBuf;

/// Why a pack could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read pack `{path}`: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The pack is larger than the configured limit.
    #[error("pack is {size} bytes, more than the limit of {limit} bytes")]
    TooLarge {
        /// Size of the pack.
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The bytes are not WebAssembly at all.
    #[error("not a WebAssembly binary (no `\\0asm` header)")]
    NotWasm,
    /// The bytes are a core module rather than a component.
    #[error(
        "a core WebAssembly module, not a component: build the pack for `wasm32-wasip2` with warden-sdk"
    )]
    CoreModule,
    /// Wasmtime rejected the component.
    #[error("invalid component: {0}")]
    Invalid(String),
    /// The component imports something the host does not allow.
    #[error(
        "pack imports `{import}`, which warden does not grant (packs may import only the `wasi:io` and `wasi:cli` interfaces that Rust's std links in)"
    )]
    ForbiddenImport {
        /// The import's name.
        import: String,
    },
    /// The component does not export the warden policy interface.
    #[error("component does not export `warden:policy/policy`; its exports are: {exports}")]
    MissingExport {
        /// The exports it has, comma-separated.
        exports: String,
    },
    /// The component targets another version of the contract.
    #[error("pack exports `{found}`, but this host speaks `warden:policy/policy@{supported}`")]
    ContractVersion {
        /// The export name found.
        found: String,
        /// The contract version this host implements.
        supported: String,
    },
    /// The exported functions do not have the contract's types.
    #[error("pack does not match the `warden:policy` contract: {0}")]
    Contract(String),
    /// Calling `info` failed (trap, deadline, bad data).
    #[error("pack `info` failed: {0}")]
    Info(String),
    /// The metadata returned by `info` is not valid.
    #[error("pack metadata is invalid: {0}")]
    Metadata(String),
    /// The pack's own defaults are rejected by its `check-settings`.
    #[error("pack rejects its own default settings: {0}")]
    Defaults(String),
    /// Loading off the async runtime did not finish (the work panicked or
    /// the runtime is shutting down).
    #[error("loading the pack did not finish: {0}")]
    Interrupted(String),
    /// The wasm engine could not be created.
    #[error("cannot create the wasm engine: {0}")]
    Engine(String),
}

/// Why a composition could not be built. Every variant names the pack, rule,
/// layer and parameter involved, so an operator can fix the document.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ComposeError {
    /// A composition needs at least one pack.
    #[error("composition has no packs")]
    NoPacks,
    /// Two packs in the composition have the same name.
    #[error("pack `{0}` appears twice in the composition")]
    DuplicatePack(String),
    /// A layer names a pack that is not in the composition.
    #[error("layer `{layer}` configures pack `{pack}`, which is not in the composition")]
    UnknownPack {
        /// The layer.
        layer: String,
        /// The pack name.
        pack: String,
    },
    /// A layer names a rule the pack does not declare.
    #[error("layer `{layer}` configures rule `{rule}`, which pack `{pack}` does not declare")]
    UnknownRule {
        /// The layer.
        layer: String,
        /// The pack.
        pack: String,
        /// The rule id.
        rule: String,
    },
    /// Two layers share a name, so explanations could not tell them apart.
    #[error("layer name `{0}` is used twice")]
    DuplicateLayer(String),
    /// A restrict-only layer tries to loosen a rule.
    #[error("restrict-only layer `{layer}` loosens rule `{rule}` of pack `{pack}`: {why}")]
    Loosens {
        /// The layer.
        layer: String,
        /// The pack.
        pack: String,
        /// The rule.
        rule: String,
        /// What it does that loosens the rule.
        why: String,
    },
    /// The pack rejects the resulting parameters.
    #[error("pack `{pack}` rejects the settings of layer `{layer}`: {message}")]
    BadParams {
        /// The pack.
        pack: String,
        /// The layer that set the offending parameter (or `defaults`).
        layer: String,
        /// The pack's message, naming rule and parameter.
        message: String,
    },
    /// The pack could not be run to check its settings: the engine has no
    /// free instance slot (raise `max_instances`), or the pack failed.
    #[error("pack `{pack}` could not check its settings: it {why}")]
    CheckFailed {
        /// The pack.
        pack: String,
        /// What happened (`could not be instantiated: ...`, `exceeded its deadline`).
        why: String,
    },
    /// `params` in a layer is not a JSON object.
    #[error("layer `{layer}`: params of rule `{rule}` in pack `{pack}` must be a JSON object")]
    ParamsNotObject {
        /// The layer.
        layer: String,
        /// The pack.
        pack: String,
        /// The rule.
        rule: String,
    },
    /// Building off the async runtime did not finish (the work panicked or
    /// the runtime is shutting down).
    #[error("building the composition did not finish: {0}")]
    Interrupted(String),
}

/// Why a request, settings or composition document could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The document is not valid JSON or TOML.
    #[error("{what} is not valid {format}: {message}")]
    Syntax {
        /// What was being read (`request`, `settings`).
        what: &'static str,
        /// `JSON` or `TOML`.
        format: &'static str,
        /// The parser's message.
        message: String,
    },
    /// A field is missing, unknown or has the wrong type.
    #[error("{what}: field `{field}`: {message}")]
    Field {
        /// What was being read.
        what: &'static str,
        /// Path of the offending field (`action.amount.minor_units`).
        field: String,
        /// What is wrong with it.
        message: String,
    },
}
