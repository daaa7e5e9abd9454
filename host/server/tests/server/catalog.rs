//! The pack catalog: upload, immutability, scopes, signatures, download, diff.

use crate::harness::*;
use axum::http::StatusCode;
use serde_json::json;
use warden_server::auth::Role;
use warden_server::keys;
use warden_testkit::both;
use warden_testkit::pack_bytes;

both!(built_ins_are_registered_at_start, |app: App| async move {
    let r = app
        .get("/v1/packs", &app.token("acme", &[Role::Runtime]))
        .await;
    assert_eq!(r.status, StatusCode::OK);
    let names: Vec<&str> = r.json["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["external-tools-untrusted", "pii-strict", "treasury"]
    );
    let t = &r.json["items"][2];
    assert_eq!(t["current"], t["versions"][0]["version"]);
    assert_eq!(t["versions"][0]["digest"], digest(&pack_bytes("treasury")));
    assert_eq!(t["versions"][0]["uploaded_by"], "warden-builtin");
});

both!(
    uploads_are_immutable_and_content_addressed,
    |app: App| async move {
        let admin = app.admin();
        let v1 = pack_bytes("rollout-v1");
        let r = app.upload("/v1/packs", &admin, v1.clone(), None).await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
        assert_eq!(r.json["name"], "rollout-demo");
        assert_eq!(r.json["version"], "1.0.0");
        assert_eq!(r.json["digest"], digest(&v1));
        assert_eq!(r.json["rules"][0]["id"], "payment-cap");
        // Same bytes again: idempotent.
        let r = app.upload("/v1/packs", &admin, v1.clone(), None).await;
        assert_eq!(r.status, StatusCode::OK);
        // Other bytes, same name@version: conflict. Appending a custom section
        // keeps the component valid but changes its digest.
        let mut other = v1.clone();
        other.extend_from_slice(&[0x00, 0x04, 0x01, b'x', 0xAA, 0xBB]);
        let r = app.upload("/v1/packs", &admin, other.clone(), None).await;
        assert_eq!(r.status, StatusCode::CONFLICT, "{:?}", r.json);
        assert_eq!(r.problem(), "conflict");
        assert!(
            r.detail().contains("`rollout-demo@1.0.0`"),
            "{}",
            r.detail()
        );
        assert_eq!(r.json["existing_digest"], digest(&v1));
        // The stored bytes are still the first ones.
        let r = app
            .get("/v1/packs/rollout-demo/versions/1.0.0/wasm", &admin)
            .await;
        assert_eq!(r.status, StatusCode::OK);
        assert_eq!(r.headers["content-type"], "application/wasm");
        assert_eq!(r.bytes, v1);
        // Metadata.
        let r = app
            .get("/v1/packs/rollout-demo/versions/1.0.0", &admin)
            .await;
        assert_eq!(r.json["size"], v1.len());
        assert_eq!(r.json["scope"], "fleet");
        let r = app
            .get("/v1/packs/rollout-demo/versions/9.9.9", &admin)
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        assert!(r.detail().contains("`rollout-demo@9.9.9`"));
    }
);

both!(
    private_packs_are_invisible_to_other_tenants,
    |app: App| async move {
        app.tenant_with("acme", &["treasury"], json!({})).await;
        app.tenant_with("beta", &["treasury"], json!({})).await;
        let acme = app.token("acme", &[Role::Operator]);
        let beta = app.token("beta", &[Role::Operator]);
        let r = app
            .upload(
                "/v1/tenants/acme/packs",
                &acme,
                pack_bytes("rollout-v1"),
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
        assert_eq!(r.json["scope"], "tenant");
        // Not in the fleet catalog, not in beta's.
        let r = app.get("/v1/packs/rollout-demo", &acme).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND);
        let r = app.get("/v1/tenants/beta/packs", &beta).await;
        assert_eq!(r.json["items"].as_array().unwrap().len(), 0);
        let r = app.get("/v1/tenants/acme/packs/rollout-demo", &beta).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN);
        // beta cannot compose acme's private pack.
        let r = app
        .put(
            "/v1/tenants/beta/composition",
            &beta,
            &json!({"version": 1, "composition": {"packs": [{"name": "rollout-demo", "source": "tenant"}]}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{:?}", r.json);
        // acme can, and gets decisions from it.
        let r = app
        .put(
            "/v1/tenants/acme/composition",
            &acme,
            &json!({"version": 1, "composition": {"packs": [{"name": "rollout-demo", "source": "tenant"}]}}),
        )
        .await;
        assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
        assert_eq!(r.json["serving"][0]["source"], "tenant");
        let r = app
            .post(
                "/v1/tenants/acme/evaluate",
                &app.token("acme", &[Role::Runtime]),
                &payment("acme", "r1", 50_000),
            )
            .await;
        assert_eq!(r.json["verdict"], "allow", "{:?}", r.json);
    }
);

both!(signatures_are_verified, |app: App| async move {
    let admin = app.admin();
    let v1 = pack_bytes("rollout-v1");
    let good = app.sign(&v1);
    // Signed by an untrusted key: rejected even when signatures are optional.
    let stranger = keys::generate_signing_key().unwrap();
    let bad = keys::sign_pack(&stranger, &digest(&v1));
    let r = app
        .upload("/v1/packs", &admin, v1.clone(), Some(&bad))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.problem(), "signature-rejected");
    // A signature of other bytes does not transfer.
    let other = app.sign(&pack_bytes("rollout-v2"));
    let r = app
        .upload("/v1/packs", &admin, v1.clone(), Some(&other))
        .await;
    assert_eq!(r.problem(), "signature-rejected");
    let r = app
        .upload("/v1/packs", &admin, v1.clone(), Some("%%%"))
        .await;
    assert_eq!(r.problem(), "signature-rejected");
    assert_eq!(
        app.get("/v1/packs/rollout-demo", &admin).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .upload("/v1/packs", &admin, v1.clone(), Some(&good))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["publisher"], "test-publisher");
    let r = app
        .get("/v1/packs/rollout-demo/versions/1.0.0/wasm", &admin)
        .await;
    assert_eq!(r.headers["warden-signature"].to_str().unwrap(), good);
    // Where signatures are optional, a version 1 signature (over
    // name@version and digest) still verifies, once compiled.
    let v2 = pack_bytes("rollout-v2");
    let legacy = keys::sign_pack_v1(
        &shared().keys.publisher,
        "rollout-demo",
        "2.0.0",
        &digest(&v2),
    );
    let wrong = keys::sign_pack_v1(
        &shared().keys.publisher,
        "rollout-demo",
        "9.0.0",
        &digest(&v2),
    );
    let r = app
        .upload("/v1/packs", &admin, v2.clone(), Some(&wrong))
        .await;
    assert_eq!(r.problem(), "signature-rejected", "{:?}", r.json);
    let r = app
        .upload("/v1/packs", &admin, v2.clone(), Some(&legacy))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    assert_eq!(r.json["publisher"], "test-publisher");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_packs_are_rejected_when_required() {
    let app = App::with(Backend::Sqlite, |c| c.require_signed_packs = true).await;
    let admin = app.admin();
    let v1 = pack_bytes("rollout-v1");
    let r = app.upload("/v1/packs", &admin, v1.clone(), None).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.problem(), "signature-rejected");
    assert!(
        r.detail()
            .contains(&format!("`{}` is unsigned", digest(&v1))),
        "{}",
        r.detail()
    );
    assert!(r.detail().contains("warden pack sign"));
    let r = app
        .upload("/v1/packs", &admin, v1.clone(), Some(&app.sign(&v1)))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    // The built-ins come from the operator's own directory and stay registered.
    let r = app.get("/v1/packs", &admin).await;
    assert_eq!(r.json["items"].as_array().unwrap().len(), 4);
}

/// The `.cwasm` files in a cache directory.
fn cached(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".cwasm"))
        .collect();
    names.sort();
    names
}

/// On a server that requires signatures, a refused upload costs no
/// compilation and leaves no file in the cache; an accepted one is cached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_uploads_cost_no_compilation_and_are_never_cached() {
    let cache = tempfile::tempdir().unwrap();
    let dir = cache.path().to_owned();
    let app = App::with(Backend::Sqlite, |c| {
        c.require_signed_packs = true;
        c.cache_dir = Some(dir);
    })
    .await;
    let admin = app.admin();
    let op = app.token("acme", &[Role::Operator]);
    app.post("/v1/tenants", &admin, &serde_json::json!({"id": "acme"}))
        .await;
    let before = cached(cache.path());
    let compiled = || app.state.engine().cache_stats().1;
    let misses = compiled();
    let v1 = pack_bytes("rollout-v1");
    let stranger = keys::generate_signing_key().unwrap();
    let legacy = keys::sign_pack_v1(
        &shared().keys.publisher,
        "rollout-demo",
        "1.0.0",
        &digest(&v1),
    );
    let untrusted = keys::sign_pack(&stranger, &digest(&v1));
    for (path, sig) in [
        ("/v1/packs", None),
        ("/v1/packs", Some(untrusted.as_str())),
        ("/v1/packs", Some("%%%")),
        // Version 1 signatures need the pack compiled first: not here.
        ("/v1/packs", Some(legacy.as_str())),
        ("/v1/tenants/acme/packs", None),
        ("/v1/tenants/acme/packs", Some(untrusted.as_str())),
    ] {
        let r = app
            .upload(path, &admin_or(&admin, &op, path), v1.clone(), sig)
            .await;
        assert_eq!(
            r.problem(),
            "signature-rejected",
            "{path} {sig:?}: {:?}",
            r.json
        );
    }
    assert_eq!(compiled(), misses, "a refused upload was compiled");
    assert_eq!(cached(cache.path()), before);
    // A signed pack that does not load: compiled, refused, not cached.
    let garbage = pack_bytes("dup-rules");
    let r = app
        .upload(
            "/v1/packs",
            &admin,
            garbage.clone(),
            Some(&app.sign(&garbage)),
        )
        .await;
    assert_eq!(r.problem(), "invalid-pack", "{:?}", r.json);
    assert_eq!(cached(cache.path()), before);
    // Accepted: cached under its digest.
    let r = app
        .upload("/v1/packs", &admin, v1.clone(), Some(&app.sign(&v1)))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{:?}", r.json);
    let now = cached(cache.path());
    let hex = digest(&v1).trim_start_matches("sha256:").to_owned();
    assert_eq!(now.len(), before.len() + 1, "{now:?}");
    assert!(now.iter().any(|n| n.contains(&hex)), "{now:?}");
}

fn admin_or(admin: &str, op: &str, path: &str) -> String {
    if path.starts_with("/v1/tenants/") {
        op
    } else {
        admin
    }
    .to_owned()
}

both!(diff_between_versions, |app: App| async move {
    let admin = app.admin();
    app.upload("/v1/packs", &admin, pack_bytes("rollout-v1"), None)
        .await;
    app.upload("/v1/packs", &admin, pack_bytes("rollout-v2"), None)
        .await;
    let r = app
        .get("/v1/packs/rollout-demo/diff?from=1.0.0&to=2.0.0", &admin)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.json);
    assert_eq!(r.json["from"]["version"], "1.0.0");
    assert_eq!(r.json["to"]["version"], "2.0.0");
    assert_ne!(r.json["from"]["digest"], r.json["to"]["digest"]);
    let changed = &r.json["rules_changed"][0];
    assert_eq!(changed["id"], "payment-cap");
    assert_eq!(changed["params"][0]["field"], "cap");
    assert_eq!(changed["params"][0]["from"], 100000);
    assert_eq!(changed["params"][0]["to"], 10000);
    assert_eq!(r.json["rules_added"].as_array().unwrap().len(), 0);
    let r = app
        .get("/v1/packs/rollout-demo/diff?from=1.0.0&to=3.0.0", &admin)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
});
