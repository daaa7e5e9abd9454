//! A tenant's composition document, and how it resolves to pack versions:
//! semver requirements, the fleet's current versions, and rollouts.

use semver::{Version, VersionReq};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use warden_host::rollout::{Rollout, State};
use warden_host::{CompositionSpec, Isolation, Layer, Verdict};
use warden_store::{PackRow, Store, StoreError, TenantRow};

/// Where a composition finds a pack.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Source {
    /// The fleet catalog.
    #[default]
    Fleet,
    /// The tenant's private packs.
    Tenant,
}

/// One pack in a composition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PackRef {
    /// Pack name.
    #[schema(pattern = "^[a-z0-9_-]{1,64}$")]
    pub name: String,
    /// Semver requirement (`^1`, `=1.2.0`, `*`).
    #[serde(default = "any_version")]
    pub version: String,
    /// Fleet catalog or tenant-private.
    #[serde(default)]
    pub source: Source,
}

fn any_version() -> String {
    "*".to_owned()
}

fn default_max_uses() -> u32 {
    10_000
}

fn deny() -> Verdict {
    Verdict::Deny
}

/// A tenant's composition: ordered packs plus what a [`CompositionSpec`] holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompositionDoc {
    /// Packs, evaluated in order.
    #[serde(default, deserialize_with = "warden_host::json_object::each")]
    pub packs: Vec<PackRef>,
    /// The verdict when no rule applies.
    #[serde(default = "deny")]
    #[schema(value_type = String, pattern = "^(allow|deny|escalate)$", example = "deny")]
    pub default_effect: Verdict,
    /// `fresh` or `reuse`.
    #[serde(default)]
    #[schema(value_type = String, pattern = "^(fresh|reuse)$", example = "fresh")]
    pub isolation: Isolation,
    /// In reuse mode, calls after which an instance is recycled.
    #[serde(default = "default_max_uses")]
    pub max_uses: u32,
    /// The tenant's override layers, least specific first (after the fleet layer).
    #[serde(default, deserialize_with = "warden_host::json_object::each")]
    #[schema(value_type = Vec<OverrideLayer>)]
    pub layers: Vec<Layer>,
}

impl CompositionDoc {
    /// A tenant's stored composition document.
    pub fn stored(row: &TenantRow) -> Result<CompositionDoc, StoreError> {
        serde_json::from_str(&row.composition).map_err(|e| warden_store::corrupt("composition", e))
    }
}

impl Default for CompositionDoc {
    fn default() -> Self {
        CompositionDoc {
            packs: Vec::new(),
            default_effect: Verdict::Deny,
            isolation: Isolation::default(),
            max_uses: default_max_uses(),
            layers: Vec::new(),
        }
    }
}

/// Which version of a pack serves a tenant, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Served {
    /// Pack name.
    pub pack: String,
    /// Version serving decisions.
    pub version: String,
    /// Its digest.
    pub digest: String,
    /// Fleet or tenant-private.
    pub source: Source,
    /// Why this version.
    pub reason: String,
    /// The rollout that chose it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<String>,
    /// A version evaluated in shadow (not enforced), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow_version: Option<String>,
}

/// A resolved composition: for each pack, the enforced row and an optional shadow row.
#[derive(Debug, Clone)]
pub struct Resolution {
    /// Enforced pack rows in composition order, with why.
    pub packs: Vec<(PackRow, Served)>,
    /// Shadow substitutes: index into `packs`, the shadow row, the rollout id.
    pub shadow: Vec<(usize, PackRow, String)>,
    /// The spec with the fleet layer first.
    pub spec: CompositionSpec,
}

/// Why a composition document does not resolve to pack versions.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// A pack's version requirement is not semver.
    #[error("pack `{pack}`: version requirement `{requirement}` is not valid semver: {source}")]
    BadRequirement {
        /// The pack.
        pack: String,
        /// The requirement as written.
        requirement: String,
        /// What the semver parser said.
        source: semver::Error,
    },
    /// No version of a fleet pack is in the catalog.
    #[error("pack `{0}` is not in the fleet catalog")]
    NotInCatalog(String),
    /// No version of a private pack is among the tenant's.
    #[error("pack `{0}` is not among the tenant's private packs")]
    NotPrivate(String),
    /// Versions exist, none matches the requirement.
    #[error("pack `{pack}`: no version matches `{requirement}` (available: {available})")]
    NoMatch {
        /// The pack.
        pack: String,
        /// The requirement as written.
        requirement: String,
        /// The versions there are, newest first.
        available: String,
    },
    /// The store failed, or holds a document that no longer parses.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The rows of every version of `name` visible in `scope`, newest first.
pub(crate) async fn versions(
    store: &Store,
    scope: &str,
    name: &str,
) -> Result<Vec<(Version, PackRow)>, StoreError> {
    let mut v: Vec<(Version, PackRow)> = store
        .pack_versions(scope, name)
        .await?
        .into_iter()
        .filter_map(|r| Version::parse(&r.version).ok().map(|v| (v, r)))
        .collect();
    v.sort_by(|a, b| b.0.cmp(&a.0));
    Ok(v)
}

/// Open rollouts by pack name.
pub async fn open_rollouts(store: &Store) -> Result<HashMap<String, Rollout>, StoreError> {
    let mut out = HashMap::new();
    for r in store.open_rollouts().await? {
        out.insert(r.pack.clone(), r);
    }
    Ok(out)
}

/// Resolves `doc` for `tenant`: picks each pack's version and the fleet layer.
pub async fn resolve(
    store: &Store,
    tenant: &str,
    doc: &CompositionDoc,
) -> Result<Resolution, ResolveError> {
    resolve_under(store, tenant, doc, None).await
}

/// [`resolve`] as if `proposed` were its pack's open rollout (a rollout
/// step being checked before it is saved).
pub async fn resolve_under(
    store: &Store,
    tenant: &str,
    doc: &CompositionDoc,
    proposed: Option<&Rollout>,
) -> Result<Resolution, ResolveError> {
    let mut rollouts = open_rollouts(store).await?;
    if let Some(r) = proposed {
        rollouts.insert(r.pack.clone(), r.clone());
    }
    let (fleet, _) = store.fleet_layer().await?;
    let mut packs = Vec::new();
    let mut shadow = Vec::new();
    for (i, r) in doc.packs.iter().enumerate() {
        let req = VersionReq::parse(&r.version).map_err(|source| ResolveError::BadRequirement {
            pack: r.name.clone(),
            requirement: r.version.clone(),
            source,
        })?;
        let scope = match r.source {
            Source::Fleet => crate::FLEET,
            Source::Tenant => tenant,
        };
        let all = versions(store, scope, &r.name).await?;
        if all.is_empty() {
            return Err(match r.source {
                Source::Fleet => ResolveError::NotInCatalog(r.name.clone()),
                Source::Tenant => ResolveError::NotPrivate(r.name.clone()),
            });
        }
        let find = |v: &Version| all.iter().find(|(w, _)| w == v).map(|(_, row)| row.clone());
        let highest = all
            .iter()
            .find(|(v, _)| req.matches(v))
            .map(|(_, row)| row.clone());
        let mut chosen: Option<(PackRow, String, Option<String>)> = None;
        if r.source == Source::Fleet {
            if let Some(ro) = rollouts
                .get(&r.name)
                .filter(|ro| ro.state != State::Completed && ro.state != State::RolledBack)
            {
                let s = ro.serve(tenant);
                if req.matches(&s.version)
                    && let Some(row) = find(&s.version)
                {
                    if let Some(sv) = s.shadow.as_ref().filter(|sv| req.matches(sv))
                        && let Some(srow) = find(sv)
                    {
                        shadow.push((i, srow, ro.id.clone()));
                    }
                    chosen = Some((row, s.reason.clone(), Some(ro.id.clone())));
                }
            }
            if chosen.is_none()
                && let Some(cur) = store.current_version(&r.name).await?
                && let Ok(cv) = Version::parse(&cur)
                && req.matches(&cv)
                && let Some(row) = find(&cv)
            {
                chosen = Some((row, format!("current fleet version {cur}"), None));
            }
        }
        let (row, reason, rollout) = match chosen {
            Some(c) => c,
            None => match highest {
                Some(row) => {
                    let why = match r.source {
                        Source::Fleet => format!(
                            "highest fleet version matching `{}` (the current version does not match)",
                            r.version
                        ),
                        Source::Tenant => {
                            format!("highest private version matching `{}`", r.version)
                        }
                    };
                    (row, why, None)
                }
                None => {
                    return Err(ResolveError::NoMatch {
                        pack: r.name.clone(),
                        requirement: r.version.clone(),
                        available: all
                            .iter()
                            .map(|(v, _)| v.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                    });
                }
            },
        };
        let shadow_version = shadow
            .iter()
            .find(|(j, _, _)| *j == i)
            .map(|(_, s, _)| s.version.clone());
        let served = Served {
            pack: r.name.clone(),
            version: row.version.clone(),
            digest: row.digest.clone(),
            source: r.source,
            reason,
            rollout,
            shadow_version,
        };
        packs.push((row, served));
    }
    // The fleet layer speaks only of packs this composition uses.
    let mut fleet = fleet;
    fleet.name = warden_host::FLEET_LAYER.to_owned();
    fleet.packs.retain(|name, _| {
        doc.packs
            .iter()
            .any(|p| p.source == Source::Fleet && p.name == *name)
    });
    let mut layers = Vec::with_capacity(doc.layers.len() + 1);
    if !fleet.packs.is_empty() {
        layers.push(fleet);
    }
    layers.extend(doc.layers.iter().cloned());
    let spec = CompositionSpec {
        default_effect: doc.default_effect,
        isolation: doc.isolation,
        max_uses: doc.max_uses,
        layers,
    };
    Ok(Resolution {
        packs,
        shadow,
        spec,
    })
}

// The document's schema of a layer, for the OpenAPI document only: `Layer` is
// what is read, and these mirror it field for field.

/// An override layer.
#[allow(dead_code)]
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct OverrideLayer {
    /// Name shown in explanations (`fleet`, `tenant:acme`).
    #[schema(min_length = 1, max_length = 256)]
    name: String,
    /// When set, the layer may only make outcomes stricter.
    #[serde(default)]
    restrict_only: bool,
    /// Overrides per pack name, then per rule id.
    #[serde(default)]
    packs: std::collections::BTreeMap<String, std::collections::BTreeMap<String, RuleOverrideDoc>>,
}

/// What a layer changes about one rule.
#[allow(dead_code)]
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleOverrideDoc {
    /// Turn the rule on or off.
    enabled: Option<bool>,
    /// Parameters to set, merged key by key.
    #[schema(value_type = Option<Object>)]
    params: Option<serde_json::Value>,
    /// Replace the verdict of the rule's deny and escalate findings.
    #[schema(value_type = Option<String>, pattern = "^(allow|deny|escalate)$")]
    verdict: Option<String>,
}
