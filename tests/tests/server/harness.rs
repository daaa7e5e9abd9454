//! A control plane per test, on SQLite (a temporary directory) or on a fresh
//! PostgreSQL database that is dropped afterwards, driven through its router.

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tower::ServiceExt;
use warden_server::auth::{Role, TokenSigner};
use warden_server::keys;
use warden_server::state::AppState;
use warden_server::{ServeConfig, Server};
use warden_tests::pack_path;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Admin URL of the local PostgreSQL (override with WARDEN_TEST_PG).
pub fn pg_admin_url() -> String {
    std::env::var("WARDEN_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".to_owned())
}

fn pg_url(db: &str) -> String {
    let admin = pg_admin_url();
    let base = admin.rsplit_once('/').map(|(b, _)| b).unwrap_or(&admin);
    format!("{base}/{db}")
}

/// A fresh PostgreSQL database, dropped when this is dropped.
pub struct PgDb {
    pub name: String,
    pub url: String,
}

impl PgDb {
    pub async fn create() -> PgDb {
        use sqlx::Connection;
        static N: AtomicU32 = AtomicU32::new(0);
        let name = format!(
            "warden_test_{}_{}_{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos()
        );
        let mut c = sqlx::PgConnection::connect(&pg_admin_url())
            .await
            .expect("PostgreSQL must run on 127.0.0.1:5432 (see .ci/run)");
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .unwrap();
        c.close().await.unwrap();
        PgDb {
            url: pg_url(&name),
            name,
        }
    }
}

impl Drop for PgDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop from a separate thread with its own runtime: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                use sqlx::Connection;
                if let Ok(mut c) = sqlx::PgConnection::connect(&pg_admin_url()).await {
                    let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                        .execute(&mut c)
                        .await;
                    let _ = c.close().await;
                }
            });
        })
        .join();
    }
}

/// Keys shared by every test of this binary: the token issuer and a
/// trusted pack publisher, written as PEM files.
pub struct Keys {
    /// Holds the key files for the binary's lifetime.
    pub _dir: tempfile::TempDir,
    pub issuer: ed25519_dalek::SigningKey,
    pub publisher: ed25519_dalek::SigningKey,
    pub issuer_pub: PathBuf,
    pub publisher_pub: PathBuf,
    pub cache: PathBuf,
    pub builtins: PathBuf,
}

pub fn keys() -> &'static Keys {
    static KEYS: OnceLock<Keys> = OnceLock::new();
    KEYS.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let issuer = keys::generate_signing_key().unwrap();
        let publisher = keys::generate_signing_key().unwrap();
        let issuer_pub = dir.path().join("issuer.pub");
        let publisher_pub = dir.path().join("publisher.pub");
        std::fs::write(
            &issuer_pub,
            keys::verifying_key_pem(&issuer.verifying_key()).unwrap(),
        )
        .unwrap();
        std::fs::write(
            &publisher_pub,
            keys::verifying_key_pem(&publisher.verifying_key()).unwrap(),
        )
        .unwrap();
        // One compiled-pack cache for the whole binary; its key is created here, once.
        let cache = dir.path().join("cache");
        warden_host::Engine::with_config(warden_host::EngineConfig {
            cache_dir: Some(cache.clone()),
            ..Default::default()
        })
        .unwrap();
        let builtins = dir.path().join("builtins");
        std::fs::create_dir_all(&builtins).unwrap();
        for n in warden_tests::BUILT_IN {
            std::fs::copy(pack_path(n), builtins.join(format!("{n}.wasm"))).unwrap();
        }
        Keys {
            _dir: dir,
            issuer,
            publisher,
            issuer_pub,
            publisher_pub,
            cache,
            builtins,
        }
    })
}

/// A response: status, headers and body (as JSON when it parses).
#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub bytes: Vec<u8>,
    pub json: Value,
}

impl Resp {
    /// The problem `type` slug (`urn:warden:problem:<slug>`).
    pub fn problem(&self) -> &str {
        self.json["type"]
            .as_str()
            .and_then(|t| t.strip_prefix("urn:warden:problem:"))
            .unwrap_or("")
    }
    pub fn detail(&self) -> &str {
        self.json["detail"].as_str().unwrap_or("")
    }
}

/// One control plane.
pub struct App {
    pub state: AppState,
    pub router: Router,
    /// The data directory and the database live as long as the app.
    pub _data: tempfile::TempDir,
    pub _pg: Option<PgDb>,
    pub signer: TokenSigner,
}

impl App {
    pub async fn new(backend: Backend) -> App {
        App::with(backend, |_| {}).await
    }

    /// A control plane with the built-in packs registered; `tweak` adjusts the config.
    pub async fn with(backend: Backend, tweak: impl FnOnce(&mut ServeConfig)) -> App {
        let k = keys();
        let data = tempfile::tempdir().unwrap();
        let pg = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(PgDb::create().await),
        };
        let mut config = ServeConfig {
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: data.path().to_path_buf(),
            database_url: pg.as_ref().map(|p| p.url.clone()),
            jwt_public_keys: vec![k.issuer_pub.clone()],
            trusted_publishers: vec![("test-publisher".to_owned(), k.publisher_pub.clone())],
            builtin_packs: Some(k.builtins.clone()),
            cache_dir: Some(k.cache.clone()),
            refresh_interval: Duration::from_millis(50),
            ..ServeConfig::default()
        };
        tweak(&mut config);
        let server = Server::start(config).await.unwrap();
        let state = server.state.clone();
        App {
            router: warden_server::router(state.clone()),
            state,
            _data: data,
            _pg: pg,
            signer: TokenSigner::from_pem(&keys::signing_key_pem(&k.issuer).unwrap()).unwrap(),
        }
    }

    pub fn token(&self, tenant: &str, roles: &[Role]) -> String {
        self.signer
            .issue("test", tenant, roles, Duration::from_secs(600))
            .unwrap()
    }

    pub fn admin(&self) -> String {
        self.token("*", &[Role::FleetAdmin])
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
        headers: &[(&str, &str)],
    ) -> Resp {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        if let Some(ct) = content_type {
            b = b.header(header::CONTENT_TYPE, ct);
        }
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        let res = self
            .router
            .clone()
            .oneshot(b.body(Body::from(body)).unwrap())
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.into_body().collect().await.unwrap().to_bytes().to_vec();
        let json = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Resp {
            status,
            headers,
            bytes,
            json,
        }
    }

    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None, Vec::new(), &[])
            .await
    }

    pub async fn send_json(&self, method: Method, path: &str, token: &str, body: &Value) -> Resp {
        self.call(
            method,
            path,
            Some(token),
            Some("application/json"),
            body.to_string().into_bytes(),
            &[],
        )
        .await
    }

    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send_json(Method::POST, path, token, body).await
    }

    pub async fn put(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send_json(Method::PUT, path, token, body).await
    }

    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send_json(Method::PATCH, path, token, body).await
    }

    pub async fn upload(
        &self,
        path: &str,
        token: &str,
        wasm: Vec<u8>,
        signature: Option<&str>,
    ) -> Resp {
        let headers: Vec<(&str, &str)> = signature
            .map(|s| ("warden-signature", s))
            .into_iter()
            .collect();
        self.call(
            Method::POST,
            path,
            Some(token),
            Some("application/wasm"),
            wasm,
            &headers,
        )
        .await
    }

    /// Creates a tenant composed of `packs` (fleet, any version); panics on failure.
    pub async fn tenant_with(&self, id: &str, packs: &[&str], extra: Value) -> Resp {
        let admin = self.admin();
        let r = self
            .post("/v1/tenants", &admin, &serde_json::json!({"id": id}))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
        let mut comp = serde_json::json!({
            "packs": packs.iter().map(|p| serde_json::json!({"name": p})).collect::<Vec<_>>(),
        });
        if let (Some(c), Some(e)) = (comp.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                c.insert(k.clone(), v.clone());
            }
        }
        let r = self
            .put(
                &format!("/v1/tenants/{id}/composition"),
                &admin,
                &serde_json::json!({"version": 0, "composition": comp}),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        r
    }

    /// A signature of a pack file by the trusted test publisher.
    pub fn sign(&self, wasm: &[u8]) -> String {
        keys::sign_pack(&keys().publisher, &digest(wasm))
    }
}

/// `sha256:<hex>` of bytes, as the catalog computes it.
pub fn digest(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// A request for tenant `t`: a payment of `minor` EUR cents.
pub fn payment(t: &str, id: &str, minor: i64) -> Value {
    serde_json::json!({
        "id": id, "tenant": t,
        "principal": {"agent": "billing-bot"},
        "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
                   "amount": {"minor_units": minor, "currency": "EUR"},
                   "counterparty": "ACME GmbH"}
    })
}

/// Runs the `warden` CLI against the app's database (off the async threads:
/// it starts its own runtime).
pub async fn cli(app: &App, args: &[&str]) -> (u8, String, String) {
    let mut full: Vec<String> = vec![
        "warden".into(),
        "--cache-dir".into(),
        keys().cache.display().to_string(),
    ];
    full.extend(args.iter().map(|s| s.to_string()));
    match &app._pg {
        Some(pg) => full.extend(["--database-url".into(), pg.url.clone()]),
        None => full.extend(["--data-dir".into(), app._data.path().display().to_string()]),
    }
    tokio::task::spawn_blocking(move || {
        std::thread::spawn(move || {
            let (mut out, mut err) = (Vec::new(), Vec::new());
            let code = warden_cli::run(full, &mut out, &mut err);
            (
                code,
                String::from_utf8(out).unwrap(),
                String::from_utf8(err).unwrap(),
            )
        })
        .join()
        .unwrap()
    })
    .await
    .unwrap()
}

/// Runs a test body on both backends: defines `<name>_sqlite` and `<name>_postgres`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::harness::App::new($crate::harness::Backend::Sqlite).await;
                ($body)(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = $crate::harness::App::new($crate::harness::Backend::Postgres).await;
                ($body)(app).await;
            }
        }
    };
}
