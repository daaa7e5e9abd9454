//! The `warden` command line, run in-process through `warden_cli::run`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{Value, json};
use std::path::Path;
use warden_testkit::{BUILT_IN, pack_path};

fn warden(args: &[&str]) -> (u8, String, String) {
    let mut out = Vec::new();
    let mut err = Vec::new();
    let mut full = vec!["warden", "--no-cache"];
    full.extend_from_slice(args);
    let code = warden_cli::run(full, &mut out, &mut err);
    (
        code,
        String::from_utf8(out).unwrap(),
        String::from_utf8(err).unwrap(),
    )
}

fn write(dir: &Path, name: &str, value: &Value) -> String {
    let path = dir.join(name);
    std::fs::write(&path, value.to_string()).unwrap();
    path.to_string_lossy().into_owned()
}

fn eval(dir: &Path, request: Value, settings: Option<Value>) -> (u8, String, String) {
    let req = write(dir, "request.json", &request);
    let packs: Vec<String> = BUILT_IN
        .iter()
        .map(|n| pack_path(n).to_string_lossy().into_owned())
        .collect();
    let mut args = vec!["eval"];
    for p in &packs {
        args.extend(["--pack", p.as_str()]);
    }
    let settings_path = settings.map(|s| write(dir, "settings.json", &s));
    if let Some(s) = &settings_path {
        args.extend(["--settings", s.as_str()]);
    }
    args.extend(["--request", req.as_str()]);
    warden(&args)
}

fn payment(minor_units: i64) -> Value {
    json!({"id": "r-1", "tenant": "demo", "principal": {"agent": "billing-bot"},
           "action": {"tool": "payments.pay_invoice", "safety_class": "financial",
                      "amount": {"minor_units": minor_units, "currency": "EUR"},
                      "counterparty": "ACME GmbH"}})
}

#[test]
fn inspect_shows_name_version_digest_rules_and_imports() {
    let path = pack_path("treasury");
    let (code, out, err) = warden(&["pack", "inspect", path.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("treasury@1.0.0"), "{out}");
    assert!(out.contains("digest   sha256:"), "{out}");
    assert!(
        out.contains("amount-limit") && out.contains("restrict-only may tighten"),
        "{out}"
    );
    assert!(out.contains("warden:policy/policy@0.1.0"), "{out}");

    let (code, out, _) = warden(&["pack", "inspect", "--json", path.to_str().unwrap()]);
    assert_eq!(code, 0);
    let doc: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(doc["name"], "treasury");
    assert_eq!(doc["size"], std::fs::metadata(&path).unwrap().len());
    assert!(
        doc["rules"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == "amount-limit")
    );
}

#[test]
fn eval_exit_codes_follow_the_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let settings = json!({"default_effect": "allow"});
    let (code, out, err) = eval(dir.path(), payment(100), Some(settings.clone()));
    assert_eq!(code, 0, "{out}{err}");
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["verdict"], "allow");
    assert_eq!(d["explanation"]["packs"].as_array().unwrap().len(), 3);

    let (code, out, _) = eval(dir.path(), payment(5_000_00), Some(settings.clone()));
    assert_eq!(code, 2, "{out}");
    let (code, out, _) = eval(dir.path(), payment(50_000_00), Some(settings));
    assert_eq!(code, 1, "{out}");
    let d: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(d["verdict"], "deny");
}

#[test]
fn bad_input_exits_3_naming_the_file_and_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut bad = payment(100);
    bad["action"]["amount"]["minor_units"] = json!("ten");
    let (code, out, err) = eval(dir.path(), bad, None);
    assert_eq!(code, 3);
    assert!(out.is_empty());
    assert!(
        err.contains("request.json") && err.contains("`action.amount.minor_units`"),
        "{err}"
    );

    let (code, _, err) = eval(
        dir.path(),
        payment(1),
        Some(json!({"layers": [{"nme": "x"}]})),
    );
    assert_eq!(code, 3);
    assert!(
        err.contains("settings.json") && err.contains("unknown field `nme`"),
        "{err}"
    );

    let (code, _, err) = eval(
        dir.path(),
        payment(1),
        Some(json!({"layers": [{"name": "t", "restrict_only": true,
            "packs": {"treasury": {"amount-limit": {"enabled": false}}}}]})),
    );
    assert_eq!(code, 3);
    assert!(
        err.contains("invalid composition: restrict-only layer `t` loosens rule `amount-limit`"),
        "{err}"
    );

    let junk = dir.path().join("junk.wasm");
    std::fs::write(&junk, b"not wasm").unwrap();
    let (code, _, err) = warden(&["pack", "inspect", junk.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(
        err.contains("junk.wasm") && err.contains("not a WebAssembly binary"),
        "{err}"
    );

    let (code, _, err) = warden(&["eval", "--request", "x.json"]);
    assert_eq!(code, 3, "{err}");
}

#[test]
fn settings_may_be_toml() {
    let dir = tempfile::tempdir().unwrap();
    let toml = dir.path().join("settings.toml");
    std::fs::write(
        &toml,
        "default_effect = \"allow\"\n[[layers]]\nname = \"fleet\"\n[layers.packs.treasury.amount-limit]\nverdict = \"escalate\"\n",
    )
    .unwrap();
    let req = write(dir.path(), "request.json", &payment(50_000_00));
    let treasury = pack_path("treasury");
    let (code, out, err) = warden(&[
        "eval",
        "--pack",
        treasury.to_str().unwrap(),
        "--settings",
        toml.to_str().unwrap(),
        "--request",
        &req,
    ]);
    assert_eq!(code, 2, "{out}{err}");

    std::fs::write(&toml, "default_effect = 7\n").unwrap();
    let (code, _, err) = warden(&[
        "eval",
        "--pack",
        treasury.to_str().unwrap(),
        "--settings",
        toml.to_str().unwrap(),
        "--request",
        &req,
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("field `default_effect`"), "{err}");
}

#[test]
fn keygen_sign_and_the_signature_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("publisher.pem");
    let (code, out, err) = warden(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("-----BEGIN PUBLIC KEY-----"));
    // Never overwrites an existing key.
    let (code, _, err) = warden(&["keygen", "--out", key.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(err.contains("publisher.pem"), "{err}");
    let pack = dir.path().join("rollout.wasm");
    std::fs::copy(pack_path("rollout-v1"), &pack).unwrap();
    let (code, sig, err) = warden(&[
        "pack",
        "sign",
        pack.to_str().unwrap(),
        "--key",
        key.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let sig = sig.trim();
    assert_eq!(
        std::fs::read_to_string(dir.path().join("rollout.wasm.sig"))
            .unwrap()
            .trim(),
        sig
    );
    let public = std::fs::read_to_string(dir.path().join("publisher.pem.pub")).unwrap();
    let publishers = [warden_server::keys::Publisher {
        name: "me".into(),
        key: warden_server::keys::parse_verifying_key("pub", &public).unwrap(),
    }];
    let digest = warden_host::Engine::new()
        .unwrap()
        .load_pack_file(&pack)
        .unwrap()
        .digest()
        .to_owned();
    // The signature covers the pack's digest: these bytes, and no others.
    let ok = warden_server::keys::verify_pack(&publishers, sig, &digest);
    assert_eq!(ok.unwrap(), "me");
    let other = warden_host::pack_digest(&std::fs::read(pack_path("rollout-v2")).unwrap());
    assert!(warden_server::keys::verify_pack(&publishers, sig, &other).is_err());
}

#[test]
fn pack_diff_of_two_files() {
    let v1 = pack_path("rollout-v1");
    let v2 = pack_path("rollout-v2");
    let (code, out, err) = warden(&["pack", "diff", v1.to_str().unwrap(), v2.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(out.starts_with("rollout-demo 1.0.0 -> 2.0.0"), "{out}");
    assert!(out.contains("~ rule payment-cap"), "{out}");
    assert!(out.contains("cap: 100000 -> 10000"), "{out}");
    let (code, out, _) = warden(&[
        "pack",
        "diff",
        v1.to_str().unwrap(),
        v2.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(code, 0);
    let j: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(j["rules_changed"][0]["params"][0]["to"], 10000);
    let (code, out, _) = warden(&["pack", "diff", v1.to_str().unwrap(), v1.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(out.trim_end().ends_with("no rule changes"), "{out}");
    let (code, _, err) = warden(&[
        "pack",
        "diff",
        v1.to_str().unwrap(),
        "nope@1.0.0",
        "--data-dir",
        "/nonexistent",
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("no catalog"), "{err}");
    let (code, _, err) = warden(&["pack", "diff", v1.to_str().unwrap(), "garbage"]);
    assert_eq!(code, 3);
    assert!(
        err.contains("`garbage` is neither a pack file nor a catalog reference"),
        "{err}"
    );
}

#[test]
fn token_issue_signs_verifiable_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("issuer.pem");
    warden(&["keygen", "--out", key.to_str().unwrap()]);
    let (code, out, err) = warden(&[
        "token",
        "issue",
        "--key",
        key.to_str().unwrap(),
        "--sub",
        "bot",
        "--tenant",
        "acme",
        "--roles",
        "runtime,auditor",
        "--ttl",
        "10m",
    ]);
    assert_eq!(code, 0, "{err}");
    let mut auth = warden_server::auth::Authenticator::new();
    auth.add_public_key_pem(
        "k",
        &std::fs::read_to_string(dir.path().join("issuer.pem.pub")).unwrap(),
    )
    .unwrap();
    let claims = auth
        .authenticate(Some(&format!("Bearer {}", out.trim())))
        .unwrap();
    assert_eq!(claims.tenant, "acme");
    assert_eq!(claims.roles.len(), 2);
    assert!(claims.exp <= claims.iat.unwrap() + 600);
    let (code, _, err) = warden(&[
        "token",
        "issue",
        "--key",
        key.to_str().unwrap(),
        "--sub",
        "b",
        "--tenant",
        "a",
        "--roles",
        "root",
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("unknown role `root`"), "{err}");
    let (code, _, err) = warden(&[
        "token",
        "issue",
        "--data-dir",
        "/nonexistent",
        "--sub",
        "b",
        "--tenant",
        "a",
        "--roles",
        "runtime",
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("warden serve"), "{err}");
}

#[test]
fn trace_verify_offline_reports_the_first_bad_event() {
    use warden_server::trace::{Chain, Checkpoint, EventClass};
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("tenant.pem");
    warden(&["keygen", "--out", key.to_str().unwrap()]);
    let signing = warden_server::keys::read_signing_key(&key).unwrap();
    let mut chain = Chain::new("acme");
    let records: Vec<_> = (1..=20)
        .map(|i| {
            chain
                .append(i, EventClass::Financial, "decision", json!({"n": i}))
                .unwrap()
        })
        .collect();
    let cp = Checkpoint::new("acme", 20, chain.head(), 1)
        .sign(&signing)
        .unwrap();
    let lines = |rs: &[warden_server::trace::Record]| -> String {
        rs.iter().map(|r| r.to_line().unwrap() + "\n").collect()
    };
    let export = dir.path().join("export.ndjson");
    let cp_path = write(dir.path(), "cp.json", &serde_json::to_value(&cp).unwrap());
    let pubkey = format!("{}.pub", key.display());
    std::fs::write(&export, lines(&records)).unwrap();
    let args = |file: &Path| {
        vec![
            "trace".to_owned(),
            "verify".into(),
            "--tenant".into(),
            "acme".into(),
            "--file".into(),
            file.display().to_string(),
            "--checkpoint".into(),
            cp_path.clone(),
            "--public-key".into(),
            pubkey.clone(),
        ]
    };
    let run = |file: &Path| {
        let a = args(file);
        warden(&a.iter().map(String::as_str).collect::<Vec<_>>())
    };
    let (code, out, err) = run(&export);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["last_seq"], 20);
    assert!(report["fault"].is_null());
    // One changed byte in event 7.
    let tampered = lines(&records).replacen("{\"n\":7}", "{\"n\":8}", 1);
    std::fs::write(&export, tampered).unwrap();
    let (code, out, _) = run(&export);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["fault"]["fault"], "changed");
    assert_eq!(report["fault"]["seq"], 7);
    // A truncated tail, against the checkpoint.
    std::fs::write(&export, lines(&records[..15])).unwrap();
    let (code, out, _) = run(&export);
    assert_eq!(code, 1);
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["fault"]["fault"], "truncated");
    assert_eq!(report["fault"]["last"], 15);
}

/// A control plane's SQLite database with `n` events in tenant `acme`'s log
/// (every third by agent `a1`) and two in `beta`'s.
fn trace_db(dir: &Path, n: u64) {
    use warden_server::trace::EventClass;
    use warden_store::{EventIndex, NewEvent, Store};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let store = Store::open_sqlite(dir).await.unwrap();
        let ev = |i: u64| {
            NewEvent::new(
                1_700_000_000_000 + i as i64,
                EventClass::Financial,
                "decision",
                &json!({"n": i}),
            )
            .unwrap()
            .with_index(EventIndex {
                agent: Some(if i.is_multiple_of(3) { "a1" } else { "a2" }.to_owned()),
                verdict: Some("allow".to_owned()),
                packs: vec!["treasury@1.0.0".to_owned()],
                ..EventIndex::default()
            })
        };
        let events: Vec<NewEvent> = (1..=n).map(ev).collect();
        store.trace_append("acme", &events).await.unwrap();
        store.trace_append("beta", &[ev(1), ev(2)]).await.unwrap();
        store.close().await;
    });
}

#[test]
fn trace_export_from_the_database_verifies_offline() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    trace_db(&data, 2500);
    let data = data.to_str().unwrap();
    let file = dir.path().join("acme.ndjson");
    let (code, out, err) = warden(&[
        "trace",
        "export",
        "--tenant",
        "acme",
        "--data-dir",
        data,
        "--out",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let summary: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(summary["events"], 2500);
    let (code, out, err) = warden(&[
        "trace",
        "verify",
        "--tenant",
        "acme",
        "--file",
        file.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{out}{err}");
    let report: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(report["last_seq"], 2500);
    // `--out -` (the default) writes the same lines to standard output.
    let (code, out, _) = warden(&["trace", "export", "--tenant", "acme", "--data-dir", data]);
    assert_eq!(code, 0);
    assert_eq!(out, std::fs::read_to_string(&file).unwrap());
    // A stretch: contiguous; it does not verify alone (no genesis link).
    let (code, out, _) = warden(&[
        "trace",
        "export",
        "--tenant",
        "acme",
        "--data-dir",
        data,
        "--from-seq",
        "10",
        "--to-seq",
        "12",
    ]);
    assert_eq!(code, 0);
    let seqs: Vec<u64> = out
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["event"]["seq"]
                .as_u64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, [10, 11, 12]);
    let (code, _, err) = warden(&[
        "trace",
        "export",
        "--tenant",
        "acme",
        "--data-dir",
        data,
        "--from-seq",
        "5",
        "--to-seq",
        "4",
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("`--to-seq`"), "{err}");
}

#[test]
fn trace_query_filters_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    trace_db(&data, 30);
    let data = data.to_str().unwrap();
    let query = |extra: &[&str]| {
        let mut args = vec!["trace", "query", "--tenant", "acme", "--data-dir", data];
        args.extend_from_slice(extra);
        warden(&args)
    };
    let (code, out, err) = query(&["--agent", "a1", "--pack", "treasury"]);
    assert_eq!(code, 0, "{err}");
    let items: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<u64> = items.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs, (1..=10).map(|i| i * 3).collect::<Vec<_>>());
    assert_eq!(items[0]["body"], json!({"n": 3}));
    assert_eq!(items[0]["at"], "2023-11-14T22:13:20.003Z");
    let (_, out, _) = query(&["--limit", "4", "--after-seq", "20"]);
    assert_eq!(out.lines().count(), 4);
    let (_, out, _) = query(&["--from", "2023-11-14T22:13:20.028Z"]);
    assert_eq!(out.lines().count(), 3);
    let (_, out, _) = query(&["--verdict", "deny"]);
    assert!(out.is_empty());
    let (code, _, err) = query(&["--verdict", "maybe"]);
    assert_eq!(code, 3);
    assert!(
        err.contains("`--verdict`") && err.contains("`maybe`"),
        "{err}"
    );
    let (code, _, err) = query(&["--from", "yesterday"]);
    assert_eq!(code, 3);
    assert!(err.contains("`--from`"), "{err}");
}
