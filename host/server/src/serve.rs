//! Starting the control plane: configuration, keys, store, built-in packs,
//! the HTTP listener, the generation poller and graceful shutdown.

use super::api::compositions::changed_event;
use super::api::router;
use super::auth::{Authenticator, Role, TokenSigner};
use super::keys::{self, MasterKey, Publisher};
use super::state::{AppState, StateConfig};
use crate::compositions::resolve::{CompositionDoc, PackRef, Source};
use crate::tenants::lifecycle::{created_event, new_tenant_row};
use crate::tenants::settings::TenantSettings;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use warden_host::{Engine, EngineConfig, Isolation};
use warden_store::{PackScope, Saved, Store, redact_url};

/// How to run the control plane.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Address to listen on.
    pub listen: SocketAddr,
    /// Data directory: SQLite database, compiled-pack cache, local keys.
    pub data_dir: PathBuf,
    /// `postgres://...` to use PostgreSQL instead of SQLite.
    pub database_url: Option<String>,
    /// PEM public keys (Ed25519 or RSA) trusted for bearer tokens.
    pub jwt_public_keys: Vec<PathBuf>,
    /// HS256 secret, for development only.
    pub jwt_hs256_secret: Option<String>,
    /// The master key (hex or base64 of 32 bytes); else `<data-dir>/master.key`.
    pub master_key: Option<String>,
    /// Trusted pack publishers: name and PEM public key file.
    pub trusted_publishers: Vec<(String, PathBuf)>,
    /// Reject unsigned packs.
    pub require_signed_packs: bool,
    /// A directory of built-in `.wasm` packs to register at start.
    pub builtin_packs: Option<PathBuf>,
    /// Create the `demo` tenant with the built-in packs if it does not exist.
    pub seed_demo: bool,
    /// How often to look for configuration changes made by other servers.
    pub refresh_interval: Duration,
    /// Compiled-pack cache; default `<data-dir>/cache`.
    pub cache_dir: Option<PathBuf>,
    /// The cache's byte budget (least recently used artifacts go beyond it).
    pub cache_max_bytes: u64,
    /// The evaluation pool's sizes; `None`: one thread per core, a tenant
    /// on all but one (see [`warden_host::PoolConfig`]).
    pub eval_pool: Option<warden_host::PoolConfig>,
    /// Pack instances the engine holds at once (see [`EngineConfig::max_instances`]).
    pub max_instances: u32,
    /// Serve HTTPS with this certificate chain and private key (PEM files).
    pub tls: Option<(PathBuf, PathBuf)>,
    /// Where file anchors are written; default `<data-dir>/anchors`.
    pub anchor_dir: Option<PathBuf>,
    /// How often retention prunes expired trace events.
    pub prune_interval: Duration,
    /// The fleet log's checkpoint schedule and anchors (`masking` unused).
    pub fleet_trace: crate::trace_log::settings::TraceSettings,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("warden-data"),
            database_url: None,
            jwt_public_keys: Vec::new(),
            jwt_hs256_secret: None,
            master_key: None,
            trusted_publishers: Vec::new(),
            require_signed_packs: false,
            builtin_packs: None,
            seed_demo: false,
            refresh_interval: Duration::from_millis(250),
            cache_dir: None,
            cache_max_bytes: EngineConfig::default().cache_max_bytes,
            eval_pool: None,
            max_instances: 4000,
            tls: None,
            anchor_dir: None,
            prune_interval: crate::trace_log::pruner::INTERVAL,
            fleet_trace: crate::trace_log::settings::TraceSettings::default(),
        }
    }
}

/// Why the server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// Store failure.
    #[error(transparent)]
    Store(#[from] warden_store::StoreError),
    /// Key failure.
    #[error(transparent)]
    Key(#[from] keys::KeyError),
    /// Auth configuration failure.
    #[error(transparent)]
    Auth(#[from] super::auth::AuthConfigError),
    /// Engine failure.
    #[error(transparent)]
    Engine(#[from] warden_host::LoadError),
    /// Listener failure.
    #[error("cannot listen on `{addr}`: {source}")]
    Listen {
        /// The address.
        addr: SocketAddr,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file cannot be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Seeding or registering failed.
    #[error("{0}")]
    Setup(String),
    /// The TLS certificate or key cannot be used.
    #[error("cannot use TLS certificate `{cert}` and key `{key}`: {message}")]
    Tls {
        /// Certificate file.
        cert: String,
        /// Key file.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn read(path: &Path) -> Result<String, ServeError> {
    std::fs::read_to_string(path).map_err(|source| ServeError::Read {
        path: path.display().to_string(),
        source,
    })
}

/// The local token issuer's key: `<data-dir>/jwt-issuer.pem`, created on
/// first use. The server trusts it only when no other JWT key is configured.
pub fn local_issuer_path(data_dir: &Path) -> PathBuf {
    data_dir.join("jwt-issuer.pem")
}

fn local_issuer(data_dir: &Path) -> Result<(String, bool), ServeError> {
    let path = local_issuer_path(data_dir);
    if path.exists() {
        return Ok((read(&path)?, false));
    }
    let key = keys::generate_signing_key()?;
    let pem = keys::signing_key_pem(&key)?;
    keys::write_private(&path, &pem).map_err(|source| ServeError::Read {
        path: path.display().to_string(),
        source,
    })?;
    Ok((pem, true))
}

/// A running control plane.
#[derive(Debug)]
pub struct Server {
    /// The bound address.
    pub addr: SocketAddr,
    /// The shared state (tests use it to reach the store).
    pub state: AppState,
    /// Lines worth printing at start (tokens, warnings).
    pub notes: Vec<String>,
    /// `https` with TLS, else `http`.
    pub scheme: &'static str,
    listener: tokio::net::TcpListener,
    refresh_interval: Duration,
    prune_interval: Duration,
    tls: Option<axum_server::tls_rustls::RustlsConfig>,
}

impl Server {
    /// Prepares everything and binds the listener; [`Server::run`] serves.
    pub async fn start(config: ServeConfig) -> Result<Server, ServeError> {
        let mut notes = Vec::new();
        std::fs::create_dir_all(&config.data_dir).map_err(|source| ServeError::Read {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let store = match &config.database_url {
            Some(url) => Store::connect(url).await?,
            None => Store::open_sqlite(&config.data_dir).await?,
        };
        notes.push(match &config.database_url {
            Some(url) => format!("database: {}", redact_url(url)),
            None => format!(
                "database: SQLite at {}",
                config.data_dir.join("warden.db").display()
            ),
        });
        let engine = Engine::with_config(EngineConfig {
            cache_dir: Some(
                config
                    .cache_dir
                    .clone()
                    .unwrap_or_else(|| config.data_dir.join("cache")),
            ),
            cache_max_bytes: config.cache_max_bytes,
            pool: config.eval_pool.clone().unwrap_or_default(),
            max_instances: config.max_instances,
            ..EngineConfig::default()
        })?;
        let master_key = match &config.master_key {
            Some(k) => MasterKey::parse(k)?,
            None => {
                let (k, created) = MasterKey::load_or_create(&config.data_dir.join("master.key"))?;
                if created {
                    notes.push(format!(
                        "created master key {} (set WARDEN_MASTER_KEY or --master-key in production)",
                        config.data_dir.join("master.key").display()
                    ));
                }
                k
            }
        };
        let mut auth = Authenticator::new();
        for p in &config.jwt_public_keys {
            auth.add_public_key_pem(&p.display().to_string(), &read(p)?)?;
        }
        if let Some(s) = &config.jwt_hs256_secret {
            auth.add_hs256_secret(s.as_bytes())?;
            notes.push("HS256 tokens are accepted: for development only".to_owned());
        }
        let mut local_signer = None;
        let mut dev_login = None;
        if !auth.has_keys() {
            let (pem, created) = local_issuer(&config.data_dir)?;
            let signing = ed25519_dalek::pkcs8::DecodePrivateKey::from_pkcs8_pem(&pem)
                .map_err(|e| ServeError::Setup(format!("local issuer key: {e}")))?;
            let signing: ed25519_dalek::SigningKey = signing;
            auth.add_public_key_pem(
                "local issuer",
                &keys::verifying_key_pem(&signing.verifying_key())?,
            )?;
            local_signer = TokenSigner::from_pem(&pem).ok();
            if config.seed_demo {
                dev_login = TokenSigner::from_pem(&pem).ok();
            }
            notes.push(format!(
                "no --jwt-public-key given: trusting the local issuer key {}{} (`warden token issue` signs with it)",
                local_issuer_path(&config.data_dir).display(),
                if created { ", created now" } else { "" }
            ));
        }
        let mut publishers = Vec::new();
        for (name, path) in &config.trusted_publishers {
            publishers.push(Publisher {
                name: name.clone(),
                key: keys::parse_verifying_key(&path.display().to_string(), &read(path)?)?,
            });
        }
        config
            .fleet_trace
            .validate()
            .map_err(|e| ServeError::Setup(format!("fleet log settings: {e}")))?;
        let state = AppState::new(StateConfig {
            store,
            engine,
            auth,
            master_key,
            publishers,
            require_signed_packs: config.require_signed_packs,
            anchor_dir: config
                .anchor_dir
                .clone()
                .unwrap_or_else(|| config.data_dir.join("anchors")),
            fleet_trace: config.fleet_trace.clone(),
            inbox: crate::inbox::config::InboxConfig {
                secure_cookies: config.tls.is_some(),
                dev_login,
            },
        })
        .await?;
        let mut builtins = Vec::new();
        match &config.builtin_packs {
            Some(dir) => builtins = register_builtins(&state, dir, &mut notes).await?,
            None => notes.push(
                "no built-in packs directory (--builtin-packs or WARDEN_BUILTIN_PACKS): none registered"
                    .to_owned(),
            ),
        }
        if config.seed_demo {
            seed_tenant(&state, "demo", &builtins, Isolation::Reuse).await?;
            seed_demo_approvals(&state, "demo").await?;
            if let Some(signer) = &local_signer {
                let day = Duration::from_secs(24 * 3600);
                let issue = |tenant: &str, roles: &[Role]| {
                    signer
                        .issue("dev", tenant, roles, day)
                        .map_err(|e| ServeError::Setup(e.to_string()))
                };
                notes.push(format!(
                    "demo tenant token (runtime, operator, auditor; 24 h):\n  {}",
                    issue("demo", &[Role::Runtime, Role::Operator, Role::Auditor])?
                ));
                let approver = signer
                    .sign(&crate::auth::Claims {
                        sub: "demo-approver".to_owned(),
                        exp: issued_at().saturating_add(day.as_secs()),
                        tenant: "demo".to_owned(),
                        roles: vec![Role::Approver],
                        groups: vec!["finance".to_owned()],
                        iat: Some(issued_at()),
                    })
                    .map_err(|e| ServeError::Setup(e.to_string()))?;
                notes.push(format!(
                    "demo approver token (approver `demo-approver`, group finance; 24 h):\n  {approver}"
                ));
                notes.push(format!(
                    "fleet admin token (24 h):\n  {}",
                    issue(crate::FLEET, &[Role::FleetAdmin])?
                ));
            }
        }
        let tls = match &config.tls {
            None => None,
            Some((cert, key)) => {
                // The process-wide provider; a second server in the same process finds it set.
                let _ = rustls::crypto::ring::default_provider().install_default();
                let cfg = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
                    .await
                    .map_err(|e| ServeError::Tls {
                        cert: cert.display().to_string(),
                        key: key.display().to_string(),
                        message: e.to_string(),
                    })?;
                Some(cfg)
            }
        };
        let listener = tokio::net::TcpListener::bind(config.listen)
            .await
            .map_err(|source| ServeError::Listen {
                addr: config.listen,
                source,
            })?;
        let addr = listener.local_addr().map_err(|source| ServeError::Listen {
            addr: config.listen,
            source,
        })?;
        Ok(Server {
            scheme: if tls.is_some() { "https" } else { "http" },
            addr,
            state,
            notes,
            listener,
            refresh_interval: config.refresh_interval,
            prune_interval: config.prune_interval,
            tls,
        })
    }

    /// Serves until `shutdown` resolves; in-flight requests finish first.
    pub async fn run(
        self,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> Result<(), ServeError> {
        let state = self.state.clone();
        let poll = self.refresh_interval;
        let poller = tokio::spawn(async move {
            let mut tick = tokio::time::interval(poll);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                if let Err(e) = state.refresh().await {
                    tracing::error!(error = %e, "cannot poll configuration");
                }
            }
        });
        let checkpoints = tokio::spawn(crate::trace_log::checkpointer::run(
            self.state.clone(),
            crate::trace_log::checkpointer::TICK,
        ));
        let pruning = tokio::spawn(crate::trace_log::pruner::run(
            self.state.clone(),
            self.prune_interval,
        ));
        let timers = tokio::spawn(crate::approvals::timers::run(
            self.state.clone(),
            crate::approvals::timers::TICK,
        ));
        let feed = tokio::spawn(crate::approvals::feed::listen(self.state.clone()));
        let notify = tokio::spawn(crate::approvals::webhooks::run(
            self.state.clone(),
            crate::approvals::webhooks::TICK,
        ));
        let app = router(self.state.clone());
        let served = match self.tls {
            None => {
                // A make-service built once: serving the `Router` itself
                // rebuilds its route table for every connection (37 KB each,
                // which 10,000 idle long-poll connections felt: BENCHMARKS.md).
                axum::serve(self.listener, app.into_make_service())
                    .with_graceful_shutdown(shutdown)
                    .await
            }
            Some(tls) => {
                let handle = axum_server::Handle::new();
                let stopper = handle.clone();
                tokio::spawn(async move {
                    shutdown.await;
                    stopper.graceful_shutdown(None);
                });
                match self.listener.into_std() {
                    Ok(std_listener) => {
                        axum_server::from_tcp_rustls(std_listener, tls)
                            .handle(handle)
                            .serve(app.into_make_service())
                            .await
                    }
                    Err(e) => Err(e),
                }
            }
        };
        poller.abort();
        checkpoints.abort();
        pruning.abort();
        timers.abort();
        feed.abort();
        notify.abort();
        self.state.store().close().await;
        served.map_err(|source| ServeError::Listen {
            addr: self.addr,
            source,
        })
    }
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Registers every `.wasm` in `dir` as a fleet pack (idempotent). Returns
/// the names registered, in file-name order.
async fn register_builtins(
    state: &AppState,
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<String>, ServeError> {
    let entries = std::fs::read_dir(dir).map_err(|source| ServeError::Read {
        path: dir.display().to_string(),
        source,
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "wasm"))
        .collect();
    files.sort();
    let mut names = Vec::new();
    for f in files {
        let bytes = std::fs::read(&f).map_err(|source| ServeError::Read {
            path: f.display().to_string(),
            source,
        })?;
        let sig = std::fs::read_to_string(f.with_extension("wasm.sig")).ok();
        let up = crate::catalog::upload::upload(
            state,
            PackScope::Fleet,
            "warden-builtin",
            bytes.into(),
            sig.as_deref(),
            true,
        );
        match up.await {
            Ok(u) => {
                let v = u.row();
                notes.push(format!(
                    "built-in pack {}@{} ({})",
                    v.name, v.version, v.digest
                ));
                names.push(v.name.clone());
            }
            Err(e) => notes.push(format!("built-in pack {} not registered: {e}", f.display())),
        }
    }
    Ok(names)
}

fn issued_at() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Gives the demo tenant (if it has none) an approval policy: escalations
/// routed `finance` go to the `finance` group for 4 hours, anything else to
/// `demo-approver` for 1 hour; a deadline denies.
async fn seed_demo_approvals(state: &AppState, tenant: &str) -> Result<(), ServeError> {
    if state.store().approval_policy(tenant).await?.is_some() {
        return Ok(());
    }
    let doc = serde_json::json!({
        "routes": [{"name": "payments", "match": {"route": ["finance"]}, "policy": "finance"}],
        "default_policy": "standard",
        "policies": {
            "finance": {"steps": [{"approvers": [{"group": "finance"}], "sla": "4h"}]},
            "standard": {"steps": [{"approvers": [{"user": "demo-approver"}], "sla": "1h"}]}
        }
    });
    let policy = serde_json::from_value(doc).map_err(|e| ServeError::Setup(e.to_string()))?;
    crate::approvals::service::save_policy(state, tenant, SEED_ACTOR, 0, &policy)
        .await
        .map_err(|e| {
            ServeError::Setup(format!(
                "cannot seed the approval policy of `{tenant}`: {e}"
            ))
        })?;
    Ok(())
}

/// The actor of the changes the server makes itself (seeding).
const SEED_ACTOR: &str = "warden";

/// Creates `tenant` (if absent) composed of `packs` from the fleet catalog,
/// with default effect `allow` (the packs are guardrails).
pub async fn seed_tenant(
    state: &AppState,
    tenant: &str,
    packs: &[String],
    isolation: Isolation,
) -> Result<(), ServeError> {
    let setup = |e: &dyn std::fmt::Display| {
        ServeError::Setup(format!("cannot seed tenant `{tenant}`: {e}"))
    };
    if state.store().tenant(tenant).await?.is_some() {
        return Ok(());
    }
    let settings = TenantSettings::default();
    let row = new_tenant_row(state, tenant, None, &settings).map_err(|e| setup(&e))?;
    let created = created_event(&row, SEED_ACTOR, &settings).map_err(|e| setup(&e))?;
    state.store().create_tenant(&row, &created).await?;
    let doc = CompositionDoc {
        packs: packs
            .iter()
            .map(|p| PackRef {
                name: p.clone(),
                version: "*".to_owned(),
                source: Source::Fleet,
            })
            .collect(),
        isolation,
        // The built-in packs are guardrails: they deny or escalate what they
        // recognise, so the demo allows what none of them objects to.
        default_effect: warden_host::Verdict::Allow,
        ..CompositionDoc::default()
    };
    state.refresh().await.map_err(|e| setup(&e))?;
    state.build(tenant, &doc).await.map_err(|e| setup(&e))?;
    let text = serde_json::to_string(&doc).map_err(|e| ServeError::Setup(e.to_string()))?;
    let changed = changed_event(tenant, SEED_ACTOR, 1, &doc)?;
    match state
        .store()
        .save_composition(tenant, 0, &text, &changed)
        .await?
    {
        Saved::Ok(_) => {}
        other => {
            return Err(ServeError::Setup(format!(
                "cannot seed tenant `{tenant}`: {other:?}"
            )));
        }
    }
    state.refresh().await.map_err(|e| setup(&e))?;
    Ok(())
}
