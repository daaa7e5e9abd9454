//! A control plane per test, on SQLite (a temporary directory) or on a fresh
//! PostgreSQL database that is dropped afterwards, driven through its router
//! (no sockets): the server's tests call [`App`]'s methods the way a client
//! calls the REST API.

use crate::keys::TestKeys;
use crate::pg::PgDb;
use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use tower::ServiceExt;
use warden_server::auth::{Role, TokenSigner};
use warden_server::keys;
use warden_server::state::AppState;
use warden_server::{ServeConfig, Server};

pub use crate::keys::digest;

/// Which database a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite in a temporary data directory.
    Sqlite,
    /// A fresh database on the local PostgreSQL.
    Postgres,
}

/// What every control plane of a test binary shares: the keys, one
/// compiled-pack cache and the built-in packs' directory.
pub struct Shared {
    /// The token issuer and the trusted publisher.
    pub keys: TestKeys,
    /// The compiled-pack cache (its key is made once, here).
    pub cache: PathBuf,
    /// A directory with only the built-in packs.
    pub builtins: PathBuf,
    _dir: tempfile::TempDir,
}

/// The binary's [`Shared`], made on first use.
pub fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = crate::packs::built_in_dir();
        let cache = dir.path().join("cache");
        warden_host::Engine::with_config(warden_host::EngineConfig {
            cache_dir: Some(cache.clone()),
            ..Default::default()
        })
        .unwrap();
        Shared {
            keys: TestKeys::new(),
            cache,
            builtins: dir.path().to_path_buf(),
            _dir: dir,
        }
    })
}

/// A response: status, headers and body (as JSON when it parses).
#[derive(Debug)]
pub struct Resp {
    /// The status.
    pub status: StatusCode,
    /// The headers.
    pub headers: axum::http::HeaderMap,
    /// The body.
    pub bytes: Vec<u8>,
    /// The body as JSON, `null` when it is not.
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
    /// The problem's `detail`.
    pub fn detail(&self) -> &str {
        self.json["detail"].as_str().unwrap_or("")
    }
}

/// One control plane.
pub struct App {
    /// The server's state (its store, engine, caches).
    pub state: AppState,
    /// Its router, called in process.
    pub router: Router,
    /// The data directory (SQLite, anchors); lives as long as the app.
    pub data: tempfile::TempDir,
    /// The PostgreSQL database, on that backend.
    pub pg: Option<PgDb>,
    /// Signs the tokens of [`App::token`].
    pub signer: TokenSigner,
}

impl App {
    /// A control plane with the built-in packs registered.
    pub async fn new(backend: Backend) -> App {
        App::with(backend, |_| {}).await
    }

    /// A control plane with the built-in packs registered; `tweak` adjusts the config.
    pub async fn with(backend: Backend, tweak: impl FnOnce(&mut ServeConfig)) -> App {
        let s = shared();
        let k = &s.keys;
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
            builtin_packs: Some(s.builtins.clone()),
            cache_dir: Some(s.cache.clone()),
            refresh_interval: Duration::from_millis(50),
            ..ServeConfig::default()
        };
        tweak(&mut config);
        let server = Server::start(config).await.unwrap();
        let state = server.state.clone();
        App {
            router: warden_server::router(state.clone()),
            state,
            data,
            pg,
            signer: TokenSigner::from_pem(&keys::signing_key_pem(&k.issuer).unwrap()).unwrap(),
        }
    }

    /// A token for `tenant` with `roles`.
    pub fn token(&self, tenant: &str, roles: &[Role]) -> String {
        self.signer
            .issue("test", tenant, roles, Duration::from_secs(600))
            .unwrap()
    }

    /// A token of `sub` for `tenant` with `roles` and `groups` (an approver).
    pub fn token_for(&self, sub: &str, tenant: &str, roles: &[Role], groups: &[&str]) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        self.signer
            .sign(&warden_server::auth::Claims {
                sub: sub.to_owned(),
                exp: now + 600,
                tenant: tenant.to_owned(),
                roles: roles.to_vec(),
                groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                iat: Some(now),
            })
            .unwrap()
    }

    /// A fleet admin's token.
    pub fn admin(&self) -> String {
        self.token("*", &[Role::FleetAdmin])
    }

    /// Sends a request through the router.
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

    /// `GET` with a token.
    pub async fn get(&self, path: &str, token: &str) -> Resp {
        self.call(Method::GET, path, Some(token), None, Vec::new(), &[])
            .await
    }

    /// A JSON body with a method and a token.
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

    /// `POST` of a JSON body.
    pub async fn post(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send_json(Method::POST, path, token, body).await
    }

    /// `PUT` of a JSON body.
    pub async fn put(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send_json(Method::PUT, path, token, body).await
    }

    /// `PATCH` of a JSON body.
    pub async fn patch(&self, path: &str, token: &str, body: &Value) -> Resp {
        self.send_json(Method::PATCH, path, token, body).await
    }

    /// Uploads pack bytes (`application/wasm`), signed or not.
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
        shared().keys.sign(wasm)
    }
}

/// A decision request for tenant `t`: `billing-bot` pays `minor` EUR cents to
/// ACME GmbH.
pub fn payment(t: &str, id: &str, minor: i64) -> Value {
    serde_json::json!({
        "id": id, "tenant": t,
        "principal": {"agent": "billing-bot"},
        "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
                   "amount": {"minor_units": minor, "currency": "EUR"},
                   "counterparty": "ACME GmbH"}
    })
}

/// Runs a test body (an async closure taking an [`App`]) on both backends:
/// defines the module `<name>` with the tests `sqlite` and `postgres`.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                let app = $crate::App::new($crate::Backend::Sqlite).await;
                ($body)(app).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                let app = $crate::App::new($crate::Backend::Postgres).await;
                ($body)(app).await;
            }
        }
    };
}
