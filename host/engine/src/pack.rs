//! A loaded pack: its bytes' digest, metadata read from its `info` export and
//! validated, and the pre-instantiated component ready to run.

use crate::bindings::{CONTRACT_VERSION, POLICY_INTERFACE, PackPre, wit};
use crate::engine::{Engine, EngineInner};
use crate::error::LoadError;
use crate::sandbox::{Live, StoreState};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use wasmtime::component::{Component, Linker};

/// The direction in which a rule parameter makes the rule stricter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Strictness {
    /// A lower number is stricter.
    Lower,
    /// A higher number is stricter.
    Higher,
    /// More list items are stricter.
    Superset,
    /// Fewer list items are stricter.
    Subset,
    /// `true` is stricter.
    WhenTrue,
    /// `false` is stricter.
    WhenFalse,
}

/// Metadata of one rule of a pack.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RuleInfo {
    /// Rule id, unique in the pack.
    pub id: String,
    /// One-line description.
    pub summary: String,
    /// Whether the rule runs by default.
    pub default_enabled: bool,
    /// Default parameters.
    pub default_params: Map<String, Value>,
    /// Parameters a restrict-only layer may tighten, and which way is stricter.
    pub strictness: BTreeMap<String, Strictness>,
}

/// Metadata of a pack, read from its `info` export.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PackInfo {
    /// Pack name.
    pub name: String,
    /// Pack version.
    pub version: semver::Version,
    /// One-line description.
    pub summary: String,
    /// The rules, in the pack's order.
    pub rules: Vec<RuleInfo>,
}

impl PackInfo {
    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&RuleInfo> {
        self.rules.iter().find(|r| r.id == id)
    }
}

/// A validated, compiled pack. Immutable; share it with `Arc`.
pub struct Pack {
    info: PackInfo,
    digest: String,
    size: usize,
    imports: Vec<String>,
    exports: Vec<String>,
    pub(crate) pre: PackPre<StoreState>,
    pub(crate) engine: Arc<EngineInner>,
    /// The compiled component, when it was compiled by this load (not read
    /// from the artifact cache): what [`Engine::keep_compiled`] stores.
    fresh: Option<Component>,
}

/// `sha256:` followed by the hex SHA-256 of a pack's bytes: its identity in
/// the catalog, the artifact cache and signatures.
pub fn pack_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

impl std::fmt::Debug for Pack {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pack")
            .field("name", &self.info.name)
            .field("version", &self.info.version.to_string())
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl Pack {
    /// The pack's metadata.
    pub fn info(&self) -> &PackInfo {
        &self.info
    }

    /// The pack's name.
    pub fn name(&self) -> &str {
        &self.info.name
    }

    /// The pack's version.
    pub fn version(&self) -> &semver::Version {
        &self.info.version
    }

    /// `sha256:` followed by the hex SHA-256 of the pack's bytes.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Size of the pack's bytes.
    pub fn size(&self) -> usize {
        self.size
    }

    /// The component's imports (each satisfied by a trap).
    pub fn imports(&self) -> &[String] {
        &self.imports
    }

    /// The component's exports.
    pub fn exports(&self) -> &[String] {
        &self.exports
    }

    /// Writes the compiled artifact to the engine's cache, if it was
    /// compiled by this load. A cache that cannot be written only costs a
    /// recompile next time.
    pub(crate) fn keep_compiled(&self) {
        if let (Some(cache), Some(component)) = (&self.engine.cache, &self.fresh)
            && let Ok(artifact) = component.serialize()
        {
            let _ = cache.put(&self.digest, &artifact);
        }
    }

    /// Asks the pack whether these settings fit its rules' parameter types:
    /// `Ok(Err(message))` when the pack rejects them, `Err(failure)` when it
    /// could not answer (no instance slot, a trap, the deadline).
    pub(crate) fn check_settings(
        &self,
        settings: &[wit::RuleSettings],
    ) -> Result<Result<(), String>, String> {
        let mut live = Live::new(&self.engine.sandbox, &self.pre).map_err(|f| f.to_string())?;
        live.check_settings(&self.engine.sandbox, settings)
            .map_err(|f| f.to_string())
    }

    /// Loads a pack; with `keep`, its artifact is written to the cache
    /// once the pack has validated (a refused pack never is).
    pub(crate) fn load(engine: &Engine, bytes: &[u8], keep: bool) -> Result<Pack, LoadError> {
        let inner = &engine.inner;
        let limit = inner.config.max_pack_size;
        if bytes.len() > limit {
            return Err(LoadError::TooLarge {
                size: bytes.len(),
                limit,
            });
        }
        match bytes.get(..8) {
            Some([0, b'a', b's', b'm', 1, 0, 0, 0]) => return Err(LoadError::CoreModule),
            Some([0, b'a', b's', b'm', _, _, 1, 0]) => {}
            Some([0, b'a', b's', b'm', ..]) => {
                return Err(LoadError::Invalid("unsupported binary version".to_owned()));
            }
            _ => return Err(LoadError::NotWasm),
        }
        let digest = pack_digest(bytes);
        let (component, fresh) = compile(inner, &digest, bytes)?;

        let ty = component.component_type();
        let imports: Vec<String> = ty
            .imports(&inner.sandbox.wasmtime)
            .map(|(n, _)| n.to_owned())
            .collect();
        let exports: Vec<String> = ty
            .exports(&inner.sandbox.wasmtime)
            .map(|(n, _)| n.to_owned())
            .collect();
        if let Some(bad) = imports.iter().find(|i| !import_allowed(i)) {
            return Err(LoadError::ForbiddenImport {
                import: bad.clone(),
            });
        }
        let wanted = format!("{POLICY_INTERFACE}@{CONTRACT_VERSION}");
        if !exports.contains(&wanted) {
            return Err(
                match exports
                    .iter()
                    .find(|e| e.starts_with(&format!("{POLICY_INTERFACE}@")))
                {
                    Some(found) => LoadError::ContractVersion {
                        found: found.clone(),
                        supported: CONTRACT_VERSION.to_owned(),
                    },
                    None => LoadError::MissingExport {
                        exports: if exports.is_empty() {
                            "none".to_owned()
                        } else {
                            exports.join(", ")
                        },
                    },
                },
            );
        }

        let mut linker: Linker<StoreState> = Linker::new(&inner.sandbox.wasmtime);
        linker
            .define_unknown_imports_as_traps(&component)
            .map_err(|e| LoadError::Contract(format!("{e:#}")))?;
        let pre = linker
            .instantiate_pre(&component)
            .map_err(|e| LoadError::Contract(format!("{e:#}")))?;
        let pre = PackPre::new(pre).map_err(|e| LoadError::Contract(format!("{e:#}")))?;

        let mut live =
            Live::new(&inner.sandbox, &pre).map_err(|f| LoadError::Info(f.to_string()))?;
        let raw = live
            .info(&inner.sandbox)
            .map_err(|f| LoadError::Info(f.to_string()))?;
        let info = validate_info(raw)?;
        let defaults: Vec<wit::RuleSettings> = info
            .rules
            .iter()
            .map(|r| wit::RuleSettings {
                rule: r.id.clone(),
                enabled: r.default_enabled,
                params: Value::Object(r.default_params.clone()).to_string(),
            })
            .collect();
        match live.check_settings(&inner.sandbox, &defaults) {
            Ok(Ok(())) => {}
            Ok(Err(msg)) => return Err(LoadError::Defaults(msg)),
            Err(f) => return Err(LoadError::Defaults(format!("check-settings {f}"))),
        }
        let pack = Pack {
            info,
            digest,
            size: bytes.len(),
            imports,
            exports,
            pre,
            engine: engine.inner.clone(),
            fresh: fresh.then_some(component),
        };
        if keep {
            pack.keep_compiled();
        }
        Ok(pack)
    }
}

/// Loading packs: the engine's side of [`Pack::load`].
impl Engine {
    /// Validates and compiles a pack from its bytes (or loads its compiled
    /// artifact from the cache).
    pub fn load_pack(&self, bytes: &[u8]) -> Result<Arc<Pack>, LoadError> {
        Pack::load(self, bytes, true).map(Arc::new)
    }

    /// Validates and compiles a pack like [`Engine::load_pack`], without
    /// writing its artifact to the cache: for packs that may still be
    /// refused (an upload). [`Engine::keep_compiled`] stores it once accepted.
    pub fn check_pack(&self, bytes: &[u8]) -> Result<Arc<Pack>, LoadError> {
        Pack::load(self, bytes, false).map(Arc::new)
    }

    /// [`Engine::load_pack`] on tokio's blocking threads: compiling a new pack
    /// takes hundreds of milliseconds, which must not hold an async worker.
    #[cfg(feature = "tokio")]
    pub async fn load_pack_async(
        &self,
        bytes: impl AsRef<[u8]> + Send + 'static,
    ) -> Result<Arc<Pack>, LoadError> {
        let engine = self.clone();
        crate::blocking::off_runtime(move || engine.load_pack(bytes.as_ref()))
            .await
            .map_err(LoadError::Interrupted)?
    }

    /// [`Engine::check_pack`] on tokio's blocking threads.
    #[cfg(feature = "tokio")]
    pub async fn check_pack_async(
        &self,
        bytes: impl AsRef<[u8]> + Send + 'static,
    ) -> Result<Arc<Pack>, LoadError> {
        let engine = self.clone();
        crate::blocking::off_runtime(move || engine.check_pack(bytes.as_ref()))
            .await
            .map_err(LoadError::Interrupted)?
    }

    /// Writes a pack's compiled artifact to the cache (if this engine has
    /// one and the pack was compiled, not read from it).
    pub fn keep_compiled(&self, pack: &Pack) {
        pack.keep_compiled();
    }

    /// Reads a pack file and loads it.
    pub fn load_pack_file(&self, path: impl Into<PathBuf>) -> Result<Arc<Pack>, LoadError> {
        let path = path.into();
        let bytes = std::fs::read(&path).map_err(|source| LoadError::Read { path, source })?;
        self.load_pack(&bytes)
    }
}

/// Packs may import only the contract's own `types` interface (types, no
/// functions) and the `wasi:io` and `wasi:cli` interfaces that Rust's standard
/// library links in; each function import is satisfied with a trap.
fn import_allowed(name: &str) -> bool {
    name.starts_with("wasi:io/")
        || name.starts_with("wasi:cli/")
        || name.starts_with("warden:policy/types@")
}

/// The component, and whether it was compiled now (`false`: from the cache).
fn compile(
    inner: &EngineInner,
    digest: &str,
    bytes: &[u8],
) -> Result<(Component, bool), LoadError> {
    if let Some(cache) = &inner.cache {
        match cache.get(digest) {
            Ok(Some(artifact)) => {
                // SAFETY: wasmtime requires that deserialized bytes were produced
                // by `Component::serialize` of a compatible engine. The cache only
                // returns artifacts whose HMAC, keyed with a secret the host
                // generated and keeps in its private cache directory, verifies:
                // the host wrote them itself. The file name includes the engine's
                // compatibility hash, and wasmtime checks compatibility again.
                #[allow(unsafe_code)]
                let loaded = unsafe { Component::deserialize(&inner.sandbox.wasmtime, &artifact) };
                if let Ok(component) = loaded {
                    inner.stats.hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((component, false));
                }
                inner.stats.rejected.fetch_add(1, Ordering::Relaxed);
            }
            Ok(None) => {}
            Err(()) => {
                inner.stats.rejected.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
    inner.stats.misses.fetch_add(1, Ordering::Relaxed);
    let component = Component::new(&inner.sandbox.wasmtime, bytes)
        .map_err(|e| LoadError::Invalid(format!("{e:#}")))?;
    Ok((component, true))
}

fn valid_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
        && !s.starts_with('-')
}

fn validate_info(raw: wit::PackInfo) -> Result<PackInfo, LoadError> {
    let bad = |m: String| Err(LoadError::Metadata(m));
    if !valid_id(&raw.name) {
        return bad(format!(
            "pack name `{}` must be 1-64 lower case letters, digits, `-` or `_`",
            raw.name
        ));
    }
    let version = match semver::Version::parse(&raw.version) {
        Ok(v) => v,
        Err(e) => return bad(format!("version `{}` is not semver: {e}", raw.version)),
    };
    if raw.rules.is_empty() {
        return bad("pack declares no rules".to_owned());
    }
    let mut rules: Vec<RuleInfo> = Vec::with_capacity(raw.rules.len());
    for r in raw.rules {
        if !valid_id(&r.id) {
            return bad(format!(
                "rule id `{}` must be 1-64 lower case letters, digits, `-` or `_`",
                r.id
            ));
        }
        if rules.iter().any(|x| x.id == r.id) {
            return bad(format!("rule id `{}` is declared twice", r.id));
        }
        let default_params = match serde_json::from_str::<Value>(&r.default_params) {
            Ok(Value::Object(m)) => m,
            _ => {
                return bad(format!(
                    "default params of rule `{}` are not a JSON object",
                    r.id
                ));
            }
        };
        let mut strictness = BTreeMap::new();
        for s in r.strictness {
            if !default_params.contains_key(&s.param) {
                return bad(format!(
                    "rule `{}` declares strictness for `{}`, which is not one of its parameters",
                    r.id, s.param
                ));
            }
            strictness.insert(s.param, strictness_of(s.stricter));
        }
        rules.push(RuleInfo {
            id: r.id,
            summary: r.summary,
            default_enabled: r.default_enabled,
            default_params,
            strictness,
        });
    }
    Ok(PackInfo {
        name: raw.name,
        version,
        summary: raw.summary,
        rules,
    })
}

fn strictness_of(s: wit::Strictness) -> Strictness {
    match s {
        wit::Strictness::LowerValue => Strictness::Lower,
        wit::Strictness::HigherValue => Strictness::Higher,
        wit::Strictness::Superset => Strictness::Superset,
        wit::Strictness::Subset => Strictness::Subset,
        wit::Strictness::WhenTrue => Strictness::WhenTrue,
        wit::Strictness::WhenFalse => Strictness::WhenFalse,
    }
}
