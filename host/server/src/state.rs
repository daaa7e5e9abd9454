//! Shared server state: the store, the engine, authentication, compiled
//! packs by digest, and each tenant's resolved composition, cached until the
//! configuration generation changes (on this server or another one).

use super::auth::Authenticator;
use super::keys::KeyError;
use super::keys::{MasterKey, Publisher};
use crate::approvals::policy::TenantApprovals;
use crate::compositions::resolve::{self, CompositionDoc, ResolveError, Served};
use crate::decisions::pace::Pace;
use crate::tenants::settings::TenantSettings;
use crate::trace_log::events::{self, Config, ConfigEvent, ConfigPack};
use crate::trace_log::masking::Masker;
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use warden_host::{Composition, Engine, Pack};
use warden_store::{Store, StoreError, TenantRow};

/// The one-pack composition a downstream pack approver is evaluated in:
/// the pack with its own defaults; no finding abstains (`escalate`).
pub fn approver_doc(r: &crate::compositions::resolve::PackRef) -> CompositionDoc {
    CompositionDoc {
        packs: vec![r.clone()],
        default_effect: warden_host::Verdict::Escalate,
        ..CompositionDoc::default()
    }
}

/// What a tenant needs to get decisions, built from its composition.
#[derive(Debug)]
pub struct TenantRuntime {
    /// The generation this was built at.
    pub generation: i64,
    /// Disabled tenants get no decisions.
    pub disabled: bool,
    /// The enforced composition; `None` when the tenant has no packs.
    pub composition: Option<Arc<Composition>>,
    /// Which version serves each pack, and why.
    pub serving: Arc<Vec<Served>>,
    /// A composition with shadow versions substituted, and their rollouts.
    pub shadow: Option<(Arc<Composition>, Vec<String>)>,
    /// Digest of the effective configuration decisions are made under
    /// (recorded in the trace log before the first such decision).
    pub config: Arc<str>,
    /// The tenant's masking rules, keyed by its secret.
    pub masker: Masker,
    /// Why the current configuration could not be built, when this runtime
    /// is the last good one kept in its place.
    pub degraded: Option<String>,
    /// Whether its decisions may be evaluated in place ([`crate::decisions::pace`]).
    pub pace: Pace,
    /// Decisions a second admitted while a pack of the tenant is
    /// quarantined (its `quarantine.paced_per_s`; see
    /// [`crate::decisions::admission::Admission::pace`]).
    pub paced_per_s: u32,
    /// The tenant's approval policy; `None`: escalations open no approval request.
    pub approvals: Option<Arc<TenantApprovals>>,
    /// The downstream pack approvers its policy names, each built as a
    /// one-pack composition, by pack name.
    pub approver_packs: Arc<BTreeMap<String, Arc<Composition>>>,
}

/// A composition document resolved and built.
#[derive(Debug)]
pub struct Built {
    /// The enforced composition; `None` when the document names no packs.
    pub composition: Option<Arc<Composition>>,
    /// Which version serves each pack, and why.
    pub serving: Vec<Served>,
    /// A composition with shadow versions substituted, and their rollouts.
    pub shadow: Option<(Arc<Composition>, Vec<String>)>,
    /// The effective configuration of the enforced composition.
    pub config: Option<Config>,
}

/// Why a tenant's runtime, a pack or a composition is not available.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// No tenant of that id.
    #[error("tenant `{0}` not found")]
    TenantNotFound(String),
    /// A pack row whose bytes are gone.
    #[error("pack bytes `{0}` are missing")]
    PackMissing(String),
    /// Stored pack bytes that no longer load (a different engine, say).
    #[error("stored pack `{digest}` no longer loads: {source}")]
    PackNoLongerLoads {
        /// The pack's digest.
        digest: String,
        /// Why it does not load.
        source: warden_host::LoadError,
    },
    /// A layer named like one the server adds itself.
    #[error("layer name `{0}` is reserved")]
    ReservedLayer(String),
    /// The document does not resolve to pack versions.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The resolved packs do not compose.
    #[error(transparent)]
    Compose(#[from] warden_host::ComposeError),
    /// The tenant's sealed key does not open.
    #[error("the key of tenant `{tenant}` does not open: {source}")]
    TenantKey {
        /// The tenant.
        tenant: String,
        /// Why.
        source: KeyError,
    },
    /// The configuration could not be recorded in the trace log, so no
    /// decision may be made under it.
    #[error("cannot record the configuration in the trace log: {0}")]
    ConfigNotRecorded(String),
    /// The store failed, or holds a document that no longer parses.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl StateError {
    /// Whether this is the server's own failure (a bug, corrupt or missing
    /// data) rather than something the configuration or the database's
    /// availability explains: such a failure is not papered over by a
    /// tenant's last good runtime.
    pub fn is_internal(&self) -> bool {
        match self {
            StateError::PackMissing(_)
            | StateError::PackNoLongerLoads { .. }
            | StateError::TenantKey { .. }
            | StateError::Compose(warden_host::ComposeError::Interrupted(_)) => true,
            StateError::Store(e) | StateError::Resolve(ResolveError::Store(e)) => {
                !(e.is_unavailable()
                    || e.is_bad_text()
                    || matches!(e, StoreError::NotRecorded { .. }))
            }
            _ => false,
        }
    }

    /// Whether the database, or a pack that could not even be run to check
    /// a composition, is to blame: worth retrying, and not the
    /// configuration's fault either.
    pub fn is_unavailable(&self) -> bool {
        match self {
            StateError::ConfigNotRecorded(_)
            | StateError::Compose(warden_host::ComposeError::CheckFailed { .. }) => true,
            StateError::Store(e) | StateError::Resolve(ResolveError::Store(e)) => {
                e.is_unavailable() || matches!(e, StoreError::NotRecorded { .. })
            }
            _ => false,
        }
    }
}

/// Settings of the server state.
#[derive(Debug)]
pub struct StateConfig {
    /// The store.
    pub store: Store,
    /// The engine.
    pub engine: Engine,
    /// Token verification.
    pub auth: Authenticator,
    /// Encrypts tenants' secret keys.
    pub master_key: MasterKey,
    /// Trusted pack publishers.
    pub publishers: Vec<Publisher>,
    /// Reject packs without a valid signature.
    pub require_signed_packs: bool,
    /// Where file anchors are written.
    pub anchor_dir: std::path::PathBuf,
    /// The fleet log's checkpoint schedule and anchors ([`crate::trace_log::fleet_log`]).
    pub fleet_trace: crate::trace_log::settings::TraceSettings,
    /// The approvers' web inbox: cookie security and the development login.
    pub inbox: crate::inbox::config::InboxConfig,
}

struct Inner {
    config: StateConfig,
    packs: Mutex<HashMap<String, Arc<Pack>>>,
    runtimes: RwLock<HashMap<String, Arc<TenantRuntime>>>,
    generation: AtomicI64,
    shadow_writes: Arc<tokio::sync::Semaphore>,
    appender: crate::trace_log::appender::Appender,
    alarms: crate::trace_log::integrity::Alarms,
    breakers: warden_host::Breakers,
    admission: crate::decisions::admission::Admission,
    fleet_key: tokio::sync::OnceCell<ed25519_dalek::SigningKey>,
    waiters: crate::approvals::waiters::Waiters,
}

/// Shadow differences being written at once, at most.
pub const MAX_SHADOW_WRITES: usize = 256;

/// Cheap to clone; shared by every handler.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState").finish_non_exhaustive()
    }
}

impl AppState {
    /// Builds the state and reads the current generation.
    pub async fn new(config: StateConfig) -> Result<AppState, warden_store::StoreError> {
        let generation = config.store.generation().await?;
        Ok(AppState(Arc::new(Inner {
            packs: Mutex::new(HashMap::new()),
            runtimes: RwLock::new(HashMap::new()),
            generation: AtomicI64::new(generation),
            shadow_writes: Arc::new(tokio::sync::Semaphore::new(MAX_SHADOW_WRITES)),
            appender: crate::trace_log::appender::Appender::start(config.store.clone()),
            alarms: crate::trace_log::integrity::Alarms::default(),
            breakers: crate::decisions::quarantine::registry(config.store.clone()),
            admission: crate::decisions::admission::Admission::default(),
            fleet_key: tokio::sync::OnceCell::new(),
            waiters: crate::approvals::waiters::Waiters::default(),
            config,
        })))
    }

    /// The web inbox's configuration ([`crate::inbox`]).
    pub fn inbox(&self) -> &crate::inbox::config::InboxConfig {
        &self.0.config.inbox
    }

    /// Runtimes waiting for approval outcomes ([`crate::approvals::waiters`]).
    pub fn waiters(&self) -> &crate::approvals::waiters::Waiters {
        &self.0.waiters
    }

    /// Fair admission of decisions across tenants ([`crate::decisions::admission`]).
    pub fn admission(&self) -> &crate::decisions::admission::Admission {
        &self.0.admission
    }

    /// Every tenant's circuit breakers (see [`crate::decisions::quarantine`]).
    pub fn breakers(&self) -> &warden_host::Breakers {
        &self.0.breakers
    }

    /// Refusals to sign unverified history (see [`crate::trace_log::integrity`]).
    pub fn alarms(&self) -> &crate::trace_log::integrity::Alarms {
        &self.0.alarms
    }

    /// The store.
    pub fn store(&self) -> &Store {
        &self.0.config.store
    }

    /// The trace log's group-commit appender.
    pub fn appender(&self) -> &crate::trace_log::appender::Appender {
        &self.0.appender
    }

    /// The engine.
    pub fn engine(&self) -> &Engine {
        &self.0.config.engine
    }

    /// Token verification.
    pub fn auth(&self) -> &Authenticator {
        &self.0.config.auth
    }

    /// The master key.
    pub fn master_key(&self) -> &MasterKey {
        &self.0.config.master_key
    }

    /// Trusted publishers.
    pub fn publishers(&self) -> &[Publisher] {
        &self.0.config.publishers
    }

    /// A slot for writing one shadow difference, if fewer than
    /// [`MAX_SHADOW_WRITES`] are in flight.
    pub fn shadow_permit(&self) -> Option<tokio::sync::OwnedSemaphorePermit> {
        Arc::clone(&self.0.shadow_writes).try_acquire_owned().ok()
    }

    /// Where file anchors are written.
    pub fn anchor_dir(&self) -> &std::path::Path {
        &self.0.config.anchor_dir
    }

    /// The fleet log's checkpoint schedule and anchors.
    pub fn fleet_trace(&self) -> &crate::trace_log::settings::TraceSettings {
        &self.0.config.fleet_trace
    }

    /// The fleet log's key, once loaded ([`crate::trace_log::fleet_log::signing_key`]).
    pub fn fleet_key(&self) -> &tokio::sync::OnceCell<ed25519_dalek::SigningKey> {
        &self.0.fleet_key
    }

    /// Whether unsigned packs are rejected.
    pub fn require_signed_packs(&self) -> bool {
        self.0.config.require_signed_packs
    }

    /// Re-reads the generation; cached compositions of older generations
    /// are rebuilt on their next use.
    /// Servers call this after their own writes and on a timer, so changes
    /// made through another server are picked up within one interval.
    pub async fn refresh(&self) -> Result<(), StateError> {
        // Stale runtimes stay in the map: each is rebuilt on its tenant's
        // next decision, and kept as the last good one should that fail.
        let g = self.store().generation().await?;
        self.0.generation.store(g, Ordering::Release);
        Ok(())
    }

    /// The tenant's row, or a 404 naming it.
    pub async fn tenant_row(&self, tenant: &str) -> Result<TenantRow, StateError> {
        self.store()
            .tenant(tenant)
            .await?
            .ok_or_else(|| StateError::TenantNotFound(tenant.to_owned()))
    }

    /// A compiled pack by digest: from memory, else from the store (compiling
    /// or loading the cached artifact off the async threads).
    pub async fn pack(&self, digest: &str) -> Result<Arc<Pack>, StateError> {
        if let Some(p) = self
            .0
            .packs
            .lock()
            .ok()
            .and_then(|m| m.get(digest).cloned())
        {
            return Ok(p);
        }
        let bytes = self
            .store()
            .pack_bytes(digest)
            .await?
            .ok_or_else(|| StateError::PackMissing(digest.to_owned()))?;
        let pack = self
            .engine()
            .load_pack_async(bytes)
            .await
            .map_err(|source| StateError::PackNoLongerLoads {
                digest: digest.to_owned(),
                source,
            })?;
        if let Ok(mut m) = self.0.packs.lock() {
            m.insert(digest.to_owned(), Arc::clone(&pack));
        }
        Ok(pack)
    }

    /// Remembers a pack compiled elsewhere (an upload).
    pub fn remember_pack(&self, pack: Arc<Pack>) {
        if let Ok(mut m) = self.0.packs.lock() {
            m.insert(pack.digest().to_owned(), pack);
        }
    }

    /// The tenant's runtime, from the cache while the generation holds.
    pub async fn runtime(&self, tenant: &str) -> Result<Arc<TenantRuntime>, StateError> {
        let g = self.0.generation.load(Ordering::Acquire);
        if let Some(rt) = self
            .0
            .runtimes
            .read()
            .ok()
            .and_then(|m| m.get(tenant).cloned())
            .filter(|rt| rt.generation == g)
        {
            return Ok(rt);
        }
        // Read the generation before the configuration, so a change made
        // meanwhile leaves this entry stale rather than wrong.
        let g = self.store().generation().await?;
        let row = self.tenant_row(tenant).await?;
        let doc = CompositionDoc::stored(&row)?;
        let built = match self.build(tenant, &doc).await {
            Ok(b) => b,
            Err(e) => return self.keep_last_good(tenant, g, row.disabled, e).await,
        };
        let config = match &built.config {
            Some(c) => self.record_config(tenant, c).await?,
            None => String::new(),
        };
        let settings = TenantSettings::stored(&row)?;
        let approvals = match self.store().approval_policy(tenant).await? {
            Some((v, doc)) => Some(Arc::new(TenantApprovals::stored(v, &doc)?)),
            None => None,
        };
        let approver_packs = Arc::new(self.approver_packs(tenant, approvals.as_deref()).await);
        let breakers = &self.0.breakers;
        let guard = |c: Arc<Composition>| match Arc::try_unwrap(c) {
            Ok(c) => Arc::new(c.guarded(breakers, settings.quarantine_or_default())),
            Err(c) => c,
        };
        let composition = built.composition.map(guard);
        let shadow = built.shadow.map(|(c, ids)| (guard(c), ids));
        let secret = self
            .master_key()
            .open(tenant, &row.secret_key)
            .map_err(|source| StateError::TenantKey {
                tenant: tenant.to_owned(),
                source,
            })?;
        let rt = Arc::new(TenantRuntime {
            generation: g,
            disabled: row.disabled,
            composition,
            serving: Arc::new(built.serving),
            shadow,
            config: config.into(),
            masker: Masker::new(settings.trace_or_default().masking, &secret),
            degraded: None,
            pace: Pace::default(),
            paced_per_s: settings.quarantine_or_default().paced_per_s,
            approvals,
            approver_packs,
        });
        if let Ok(mut m) = self.0.runtimes.write() {
            m.insert(tenant.to_owned(), Arc::clone(&rt));
        }
        Ok(rt)
    }

    /// A composition that cannot be built at decision time (a change the
    /// tenant did not make: a rollout, the fleet layer, a pack) must not
    /// take the tenant down: its last good runtime keeps serving, marked
    /// degraded for this generation, and the failure is recorded once as a
    /// `composition-failed` admin event in its log. Without a last good
    /// runtime (a fresh server) the error stands.
    async fn keep_last_good(
        &self,
        tenant: &str,
        g: i64,
        disabled: bool,
        e: StateError,
    ) -> Result<Arc<TenantRuntime>, StateError> {
        if e.is_internal() {
            return Err(e);
        }
        let last = self
            .0
            .runtimes
            .read()
            .ok()
            .and_then(|m| m.get(tenant).cloned());
        let Some(last) = last.filter(|rt| rt.composition.is_some()) else {
            return Err(e);
        };
        let why = e.to_string();
        let first_time = last.degraded.as_deref() != Some(why.as_str());
        let rt = Arc::new(TenantRuntime {
            generation: g,
            disabled,
            composition: last.composition.clone(),
            serving: Arc::clone(&last.serving),
            shadow: last.shadow.clone(),
            config: Arc::clone(&last.config),
            masker: last.masker.clone(),
            degraded: Some(why.clone()),
            pace: Pace::default(),
            paced_per_s: last.paced_per_s,
            approvals: last.approvals.clone(),
            approver_packs: Arc::clone(&last.approver_packs),
        });
        if let Ok(mut m) = self.0.runtimes.write() {
            m.insert(tenant.to_owned(), Arc::clone(&rt));
        }
        if first_time {
            tracing::warn!(tenant = %tenant, error = %why, "tenant keeps its last good composition");
            let event = events::audit(
                tenant,
                "composition-failed",
                "warden",
                serde_json::json!({"error": why, "kept": &*last.config}),
            )?;
            if let Err(err) = self.appender().append(tenant, vec![event.event]).await {
                tracing::error!(tenant = %tenant, error = %err, "cannot record `composition-failed`");
            }
        }
        Ok(rt)
    }

    /// Builds the downstream pack approvers `approvals` names (see
    /// [`crate::approvals::policy::Approver::Pack`]). One that cannot be
    /// built (its pack was removed since the policy was saved) is left out
    /// and logged: it abstains.
    pub async fn approver_packs(
        &self,
        tenant: &str,
        approvals: Option<&TenantApprovals>,
    ) -> BTreeMap<String, Arc<Composition>> {
        let mut out = BTreeMap::new();
        let Some(a) = approvals else { return out };
        for (field, r) in a.policy.packs() {
            if out.contains_key(&r.name) {
                continue;
            }
            match self.build(tenant, &approver_doc(r)).await {
                Ok(Built {
                    composition: Some(c),
                    ..
                }) => {
                    out.insert(r.name.clone(), c);
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(tenant = %tenant, field = %field, error = %e,
                        "a downstream pack approver cannot be built; it abstains");
                }
            }
        }
        out
    }

    /// Records an effective configuration: the first time the tenant uses
    /// it, a `configuration` event in its log (before any decision made
    /// under it) and a row replay finds it by. Returns the digest.
    pub async fn record_config(&self, tenant: &str, config: &Config) -> Result<String, StateError> {
        let digest = config.digest()?;
        let text =
            serde_json::to_string(config).map_err(|e| warden_store::corrupt("configuration", e))?;
        // Event first, then the lookup row: a failure in between appends
        // the event again next time (harmless), never leaves it out.
        if self.store().trace_config(tenant, &digest).await?.is_none() {
            let event = events::new_event(
                crate::trace::EventClass::Admin,
                events::kind::CONFIGURATION,
                &ConfigEvent {
                    digest: digest.clone(),
                    config: config.clone(),
                },
            )?;
            self.appender()
                .append(tenant, vec![event])
                .await
                .map_err(StateError::ConfigNotRecorded)?;
            self.store()
                .trace_config_put(tenant, &digest, &text)
                .await?;
        }
        Ok(digest)
    }

    /// Resolves and builds a composition document: what saving validates and
    /// what serving uses.
    pub async fn build(&self, tenant: &str, doc: &CompositionDoc) -> Result<Built, StateError> {
        self.build_under(tenant, doc, None).await
    }

    /// [`AppState::build`] as if `proposed` were its pack's open rollout.
    pub async fn build_under(
        &self,
        tenant: &str,
        doc: &CompositionDoc,
        proposed: Option<&warden_host::rollout::Rollout>,
    ) -> Result<Built, StateError> {
        if let Some(l) = doc
            .layers
            .iter()
            .find(|l| l.name == warden_host::FLEET_LAYER || l.name == warden_host::DEFAULTS)
        {
            return Err(StateError::ReservedLayer(l.name.clone()));
        }
        let res = resolve::resolve_under(self.store(), tenant, doc, proposed).await?;
        if res.packs.is_empty() {
            return Ok(Built {
                composition: None,
                serving: Vec::new(),
                shadow: None,
                config: None,
            });
        }
        let config = Config {
            packs: res
                .packs
                .iter()
                .map(|(row, _)| ConfigPack {
                    name: row.name.clone(),
                    version: row.version.clone(),
                    digest: row.digest.clone(),
                })
                .collect(),
            spec: res.spec.clone(),
            serving: res.packs.iter().map(|(_, s)| s.clone()).collect(),
        };
        let mut packs = Vec::with_capacity(res.packs.len());
        for (row, _) in &res.packs {
            packs.push(self.pack(&row.digest).await?);
        }
        let composition = Composition::build_async(tenant, packs.clone(), res.spec.clone()).await?;
        let mut shadow = None;
        let mut shadow_error = None;
        if !res.shadow.is_empty() {
            let mut sp = packs.clone();
            let mut ids = Vec::new();
            for (i, row, id) in &res.shadow {
                sp[*i] = self.pack(&row.digest).await?;
                ids.push(id.clone());
            }
            // A shadow version that rejects the tenant's layers is not
            // evaluated; the enforced composition is unaffected, and the
            // serving reason says why the shadow is missing.
            match Composition::build_async(tenant, sp, res.spec.clone()).await {
                Ok(c) => shadow = Some((Arc::new(c), ids)),
                Err(e) => shadow_error = Some(e.to_string()),
            }
        }
        let serving = res
            .packs
            .into_iter()
            .map(|(_, mut s)| {
                if let Some(e) = &shadow_error
                    && let Some(v) = s.shadow_version.take()
                {
                    s.reason = format!("{}; shadow {v} not evaluated: {e}", s.reason);
                }
                s
            })
            .collect();
        Ok(Built {
            composition: Some(Arc::new(composition)),
            serving,
            shadow,
            config: Some(config),
        })
    }
}
