//! `warden serve`, `warden token issue`, `warden keygen`, `warden pack sign`
//! and `warden pack diff`.

use super::database::{StoreRef, current_thread_runtime};
use super::logging::{self, LogFormat};
use super::{Result, emit, pretty};
use clap::{Args, Subcommand};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use warden_host::Engine;
use warden_server::auth::{Role, TokenSigner};
use warden_server::keys;
use warden_server::trace_log::settings::Anchor;
use warden_server::{ServeConfig, Server, local_issuer_path, shutdown_signal};

/// `warden serve` options; each can also come from the environment.
#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "WARDEN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Data directory: SQLite database, compiled-pack cache, local keys.
    #[arg(long, env = "WARDEN_DATA_DIR", default_value = "warden-data")]
    data_dir: PathBuf,
    /// Use PostgreSQL (`postgres://user@host/db`) instead of SQLite.
    #[arg(long, env = "WARDEN_DATABASE_URL")]
    database_url: Option<String>,
    /// A PEM public key (Ed25519 or RSA) trusted for bearer tokens; repeatable.
    /// Without any, the local issuer key in the data directory is trusted.
    #[arg(
        long = "jwt-public-key",
        env = "WARDEN_JWT_PUBLIC_KEYS",
        value_delimiter = ','
    )]
    jwt_public_keys: Vec<PathBuf>,
    /// Accept HS256 tokens signed with this secret. Development only.
    #[arg(long, env = "WARDEN_DEV_HS256_SECRET", hide_env_values = true)]
    dev_hs256_secret: Option<String>,
    /// Master key (hex or base64 of 32 bytes) encrypting tenants' secret keys;
    /// default: `<data-dir>/master.key`, created if absent.
    #[arg(long, env = "WARDEN_MASTER_KEY", hide_env_values = true)]
    master_key: Option<String>,
    /// A trusted pack publisher as `NAME=PUBLIC_KEY.pem`; repeatable.
    #[arg(
        long = "trusted-publisher",
        env = "WARDEN_TRUSTED_PUBLISHERS",
        value_delimiter = ','
    )]
    trusted_publishers: Vec<String>,
    /// Reject packs without a valid publisher signature.
    #[arg(long, env = "WARDEN_REQUIRE_SIGNED_PACKS")]
    require_signed_packs: bool,
    /// Directory of built-in packs (`.wasm`, optional `.wasm.sig`) registered at start;
    /// default `target/packs` (where `cargo xtask packs` puts them) when it exists.
    #[arg(long, env = "WARDEN_BUILTIN_PACKS")]
    builtin_packs: Option<PathBuf>,
    /// Create the `demo` tenant with the built-in packs and print development tokens.
    #[arg(long)]
    seed_demo: bool,
    /// Serve HTTPS with this PEM certificate chain (needs --tls-key).
    #[arg(long, env = "WARDEN_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "WARDEN_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// How often to pick up configuration changes made by other servers, in ms.
    #[arg(long, default_value_t = 250)]
    refresh_ms: u64,
    /// Directory that tenants' `file` anchors are written under; default `<data-dir>/anchors`.
    #[arg(long, env = "WARDEN_ANCHOR_DIR")]
    anchor_dir: Option<PathBuf>,
    /// Where the fleet log's checkpoints are published (repeatable): a file
    /// name under the anchor directory, or an `http://` URL to POST them to.
    #[arg(long = "fleet-anchor", value_name = "FILE|URL")]
    fleet_anchors: Vec<String>,
    /// How often retention prunes expired trace events, in seconds.
    #[arg(long, env = "WARDEN_PRUNE_INTERVAL_S", default_value_t = 3600)]
    prune_interval_s: u64,
    /// Most MiB of compiled packs kept in the cache directory; the least
    /// recently used are removed beyond it (and compiled again when needed).
    #[arg(long, env = "WARDEN_CACHE_MAX_MB", default_value_t = 1024)]
    cache_max_mb: u64,
    /// Pack instances the engine can hold at once (running, being built,
    /// and idle for reuse); idle ones are kept to half of it.
    #[arg(long, env = "WARDEN_MAX_INSTANCES", default_value_t = 4000)]
    max_instances: u32,
    /// Threads that evaluate decisions (default: one per core); a tenant
    /// may use all but one of them.
    #[arg(long, env = "WARDEN_EVAL_THREADS")]
    eval_threads: Option<usize>,
    /// Log lines as text or as JSON (one object per line, with the request's
    /// id, tenant and decision id).
    #[arg(long, env = "WARDEN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    /// What to log: a level (`error`, `warn`, `info`, `debug`, `trace`) or
    /// `target=level` pairs (`info,warden_server::request_log=debug`
    /// logs every request).
    #[arg(long = "log", env = "WARDEN_LOG", default_value = "info")]
    log_filter: String,
}

pub(crate) fn serve(args: ServeArgs, out: &mut dyn Write) -> Result<u8> {
    logging::init(args.log_format, &args.log_filter)?;
    let mut publishers = Vec::new();
    for p in &args.trusted_publishers {
        let (name, path) = p
            .split_once('=')
            .ok_or_else(|| format!("`--trusted-publisher {p}`: expected NAME=PUBLIC_KEY.pem"))?;
        publishers.push((name.to_owned(), PathBuf::from(path)));
    }
    let config = ServeConfig {
        listen: args.listen,
        data_dir: args.data_dir,
        database_url: args.database_url,
        jwt_public_keys: args.jwt_public_keys,
        jwt_hs256_secret: args.dev_hs256_secret,
        master_key: args.master_key,
        trusted_publishers: publishers,
        require_signed_packs: args.require_signed_packs,
        builtin_packs: args.builtin_packs.or_else(|| {
            let dev = PathBuf::from("target").join("packs");
            dev.is_dir().then_some(dev)
        }),
        seed_demo: args.seed_demo,
        refresh_interval: Duration::from_millis(args.refresh_ms.max(10)),
        cache_dir: None,
        cache_max_bytes: args.cache_max_mb.saturating_mul(1 << 20),
        eval_pool: args.eval_threads.map(warden_host::PoolConfig::for_threads),
        max_instances: args.max_instances.max(8),
        tls: args.tls_cert.zip(args.tls_key),
        anchor_dir: args.anchor_dir,
        prune_interval: Duration::from_secs(args.prune_interval_s.max(1)),
        fleet_trace: warden_server::trace_log::settings::TraceSettings {
            anchors: args
                .fleet_anchors
                .into_iter()
                .map(|a| {
                    if a.starts_with("http://") || a.starts_with("https://") {
                        Anchor::Webhook { url: a }
                    } else {
                        Anchor::File { path: a }
                    }
                })
                .collect(),
            ..Default::default()
        },
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(async move {
        let server = Server::start(config).await.map_err(|e| e.to_string())?;
        for n in &server.notes {
            emit(out, &format!("{n}\n"))?;
        }
        emit(
            out,
            &format!("warden listening on http://{}\n", server.addr),
        )?;
        let _ = out.flush();
        server
            .run(shutdown_signal())
            .await
            .map_err(|e| e.to_string())?;
        emit(out, "warden stopped\n")?;
        Ok(0)
    })
}

#[derive(Subcommand)]
pub(crate) enum TokenCommand {
    /// Sign a token with the local issuer key (or `--key`, or `--hs256-secret`).
    Issue {
        /// Subject: who the token is for.
        #[arg(long)]
        sub: String,
        /// Tenant id, or `*` for fleet scope.
        #[arg(long)]
        tenant: String,
        /// Comma-separated roles: fleet-admin, operator, approver, runtime, auditor.
        #[arg(long, value_delimiter = ',', required = true)]
        roles: Vec<String>,
        /// Lifetime, e.g. `15m`, `1h`, `7d`.
        #[arg(long, default_value = "1h")]
        ttl: String,
        /// PKCS#8 PEM private key (Ed25519 or RSA); default: the local issuer
        /// key in `--data-dir`.
        #[arg(long)]
        key: Option<PathBuf>,
        /// Data directory holding the local issuer key.
        #[arg(long, env = "WARDEN_DATA_DIR", default_value = "warden-data")]
        data_dir: PathBuf,
        /// Sign with HS256 and this secret (development servers only).
        #[arg(long, env = "WARDEN_DEV_HS256_SECRET", hide_env_values = true)]
        hs256_secret: Option<String>,
    },
}

pub(crate) fn token(cmd: TokenCommand, out: &mut dyn Write) -> Result<u8> {
    let TokenCommand::Issue {
        sub,
        tenant,
        roles,
        ttl,
        key,
        data_dir,
        hs256_secret,
    } = cmd;
    let roles = roles
        .iter()
        .map(|r| Role::parse(r.trim()).ok_or_else(|| format!("unknown role `{r}`")))
        .collect::<Result<Vec<_>>>()?;
    let ttl = humantime::parse_duration(&ttl).map_err(|e| format!("bad `--ttl {ttl}`: {e}"))?;
    let signer = match (hs256_secret, key) {
        (Some(s), _) => TokenSigner::hs256(s.as_bytes()),
        (None, key) => {
            let path = key.unwrap_or_else(|| local_issuer_path(&data_dir));
            let pem = std::fs::read_to_string(&path).map_err(|e| {
                format!(
                    "cannot read signing key `{}`: {e} (start `warden serve` once to create the local issuer key, or pass --key)",
                    path.display()
                )
            })?;
            TokenSigner::from_pem(&pem).map_err(|e| e.to_string())?
        }
    };
    let t = signer
        .issue(&sub, &tenant, &roles, ttl)
        .map_err(|e| e.to_string())?;
    emit(out, &format!("{t}\n"))?;
    Ok(0)
}

pub(crate) fn keygen(path: &Path, out: &mut dyn Write) -> Result<u8> {
    let key = keys::generate_signing_key().map_err(|e| e.to_string())?;
    let private = keys::signing_key_pem(&key).map_err(|e| e.to_string())?;
    let public = keys::verifying_key_pem(&key.verifying_key()).map_err(|e| e.to_string())?;
    keys::write_private(path, &private)
        .map_err(|e| format!("cannot create `{}`: {e}", path.display()))?;
    let pub_path = PathBuf::from(format!("{}.pub", path.display()));
    std::fs::write(&pub_path, &public)
        .map_err(|e| format!("cannot write `{}`: {e}", pub_path.display()))?;
    emit(
        out,
        &format!(
            "private key: {}\npublic key:  {}\n{public}",
            path.display(),
            pub_path.display()
        ),
    )?;
    Ok(0)
}

pub(crate) fn sign(engine: &Engine, file: &Path, key: &Path, out: &mut dyn Write) -> Result<u8> {
    let pack = engine
        .load_pack_file(file)
        .map_err(|e| format!("cannot load `{}`: {e}", file.display()))?;
    let key = keys::read_signing_key(key).map_err(|e| e.to_string())?;
    let sig = keys::sign_pack(&key, pack.digest());
    let sig_path = PathBuf::from(format!("{}.sig", file.display()));
    std::fs::write(&sig_path, format!("{sig}\n"))
        .map_err(|e| format!("cannot write `{}`: {e}", sig_path.display()))?;
    emit(out, &format!("{sig}\n"))?;
    Ok(0)
}

struct Side {
    info: warden_host::PackInfo,
    digest: String,
    size: usize,
}

fn side(engine: &Engine, arg: &str, refs: &StoreRef, rt: &tokio::runtime::Runtime) -> Result<Side> {
    let path = Path::new(arg);
    if path.exists() {
        let p = engine
            .load_pack_file(path)
            .map_err(|e| format!("cannot load `{arg}`: {e}"))?;
        return Ok(Side {
            info: p.info().clone(),
            digest: p.digest().to_owned(),
            size: p.size(),
        });
    }
    let (name, version) = arg.split_once('@').ok_or_else(|| {
        format!("`{arg}` is neither a pack file nor a catalog reference `name@version`")
    })?;
    rt.block_on(async {
        let store = refs.open().await.map_err(|e| format!("`{arg}`: {e}"))?;
        let row = store
            .pack(warden_server::FLEET, name, version)
            .await
            .map_err(|e| e.to_string())?
            .ok_or_else(|| format!("pack `{name}@{version}` is not in the fleet catalog"))?;
        store.close().await;
        Ok(Side {
            info: row.info,
            digest: row.digest,
            size: usize::try_from(row.size).unwrap_or(0),
        })
    })
}

/// `warden pack diff`; with `traffic: (tenant, last)`, also the what-if of
/// `to` over the tenant's last recorded decisions.
pub(crate) fn diff(
    engine: &Engine,
    from: &str,
    to: &str,
    json: bool,
    refs: &StoreRef,
    traffic: Option<(&str, usize)>,
    out: &mut dyn Write,
) -> Result<u8> {
    let rt = current_thread_runtime()?;
    let a = side(engine, from, refs, &rt)?;
    let b = side(engine, to, refs, &rt)?;
    let d = warden_host::diff::diff(&a.info, &a.digest, a.size, &b.info, &b.digest, b.size);
    let behaviour = match traffic {
        Some((tenant, last)) => Some((
            tenant,
            last,
            super::trace_replay::traffic(engine, refs, &rt, from, to, tenant, last)?,
        )),
        None => None,
    };
    if json {
        let mut doc = serde_json::to_value(&d).map_err(|e| e.to_string())?;
        if let (Some(o), Some((_, _, t))) = (doc.as_object_mut(), &behaviour) {
            o.insert(
                "traffic".to_owned(),
                serde_json::to_value(t).map_err(|e| e.to_string())?,
            );
        }
        emit(out, &format!("{}\n", pretty(&doc)))?;
    } else {
        emit(out, &d.render_text())?;
        if let Some((tenant, last, t)) = &behaviour {
            emit(out, &super::trace_replay::render_traffic(tenant, *last, t))?;
        }
    }
    Ok(0)
}
