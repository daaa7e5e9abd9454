//! Which version serves a tenant, buckets, and the JSON shape.

use super::*;

// ---- serve ----

fn serving(r: &Rollout, tenant: &str) -> (String, Option<String>, String) {
    let s = r.serve(tenant);
    (
        s.version.to_string(),
        s.shadow.map(|v| v.to_string()),
        s.reason,
    )
}

fn owned(version: &str, shadow: Option<&str>, reason: &str) -> (String, Option<String>, String) {
    (version.into(), shadow.map(Into::into), reason.into())
}

#[test]
fn test_tenants_have_the_expected_buckets() {
    // The serve tests below rely on these.
    assert_eq!(bucket("r1", "zeta"), 974);
    assert_eq!(bucket("r1", "hooli"), 2242);
    assert_eq!(bucket("r1", "stark"), 3404);
    assert_eq!(bucket("r1", "acme"), 7914);
}

#[test]
fn serve_canary() {
    let r = start(canary(&["acme", "beta"]), Mode::Enforce);
    assert_eq!(
        serving(&r, "acme"),
        owned("1.1.0", None, "rollout `r1` canary: tenant `acme` is named")
    );
    assert_eq!(
        serving(&r, "globex"),
        owned(
            "1.0.0",
            None,
            "rollout `r1` canary: tenant `globex` is not named, stays on 1.0.0"
        )
    );
    // Names are exact.
    assert_eq!(r.serve("Acme").version, v("1.0.0"));
}

#[test]
fn serve_canary_shadow() {
    let r = start(canary(&["acme"]), Mode::Shadow);
    assert_eq!(
        serving(&r, "acme"),
        owned(
            "1.0.0",
            Some("1.1.0"),
            "rollout `r1` canary: tenant `acme` is named; shadow: 1.1.0 evaluated, not enforced"
        )
    );
    assert_eq!(
        serving(&r, "globex"),
        owned(
            "1.0.0",
            None,
            "rollout `r1` canary: tenant `globex` is not named, stays on 1.0.0"
        )
    );
}

#[test]
fn serve_percentage() {
    let r = start(pct(25.0), Mode::Enforce);
    assert_eq!(
        serving(&r, "zeta"),
        owned(
            "1.1.0",
            None,
            "rollout `r1` at 25%: tenant bucket 974 < 2500"
        )
    );
    assert_eq!(
        serving(&r, "acme"),
        owned(
            "1.0.0",
            None,
            "rollout `r1` at 25%: tenant bucket 7914 >= 2500, stays on 1.0.0"
        )
    );
    let r = start(pct(22.42), Mode::Enforce);
    assert_eq!(
        serving(&r, "hooli").2,
        "rollout `r1` at 22.42%: tenant bucket 2242 >= 2242, stays on 1.0.0"
    );
    let r = start(pct(22.43), Mode::Enforce);
    assert_eq!(
        serving(&r, "hooli"),
        owned(
            "1.1.0",
            None,
            "rollout `r1` at 22.43%: tenant bucket 2242 < 2243"
        )
    );
}

#[test]
fn canary_tenants_stay_in_at_percentages() {
    // acme (bucket 7914) and beta (8032) are named in the canary; stark
    // (3404) and globex (9142) are not.
    let mut r = start(canary(&["acme"]), Mode::Enforce);
    ok(r.advance(canary(&["acme", "beta"]), T0 + 1, "bob"));
    ok(r.advance(pct(25.0), T0 + 2, "bob"));
    assert_eq!(
        serving(&r, "acme"),
        owned(
            "1.1.0",
            None,
            "rollout `r1` at 25%: tenant `acme` stays from the canary (bucket 7914 >= 2500)"
        )
    );
    assert!(r.in_cohort("beta"));
    assert!(r.in_cohort("zeta"));
    assert!(!r.in_cohort("stark"));
    assert!(!r.in_cohort("globex"));
    ok(r.pause(T0 + 3, "bob"));
    ok(r.resume(T0 + 4, "bob"));
    ok(r.set_mode(Mode::Shadow, T0 + 5, "bob"));
    ok(r.advance(pct(50.0), T0 + 6, "bob"));
    assert_eq!(
        serving(&r, "beta"),
        owned(
            "1.0.0",
            Some("1.1.0"),
            "rollout `r1` at 50%: tenant `beta` stays from the canary (bucket 8032 >= 5000); shadow: 1.1.0 evaluated, not enforced"
        )
    );
    assert_eq!(
        serving(&r, "stark").2,
        "rollout `r1` at 50%: tenant bucket 3404 < 5000; shadow: 1.1.0 evaluated, not enforced"
    );
    assert!(!r.in_cohort("globex"));
    // A rollout that started at a percentage has no canary tenants.
    let r = start(pct(25.0), Mode::Enforce);
    assert!(!r.in_cohort("acme"));
}

#[test]
fn serve_percentage_shadow() {
    let r = start(pct(25.0), Mode::Shadow);
    assert_eq!(
        serving(&r, "zeta"),
        owned(
            "1.0.0",
            Some("1.1.0"),
            "rollout `r1` at 25%: tenant bucket 974 < 2500; shadow: 1.1.0 evaluated, not enforced"
        )
    );
    assert_eq!(
        serving(&r, "acme"),
        owned(
            "1.0.0",
            None,
            "rollout `r1` at 25%: tenant bucket 7914 >= 2500, stays on 1.0.0"
        )
    );
}

#[test]
fn serve_percentage_bounds() {
    let none = start(pct(0.0), Mode::Enforce);
    let all = start(pct(100.0), Mode::Enforce);
    for i in 0..1000 {
        let tenant = format!("tenant-{i}");
        assert!(!none.in_cohort(&tenant));
        assert_eq!(none.serve(&tenant).version, v("1.0.0"));
        assert!(all.in_cohort(&tenant));
        assert_eq!(all.serve(&tenant).version, v("1.1.0"));
    }
}

#[test]
fn serve_full() {
    let r = start(Stage::Full, Mode::Enforce);
    assert_eq!(
        serving(&r, "acme"),
        owned("1.1.0", None, "rollout `r1` full")
    );
    let r = start(Stage::Full, Mode::Shadow);
    assert_eq!(
        serving(&r, "acme"),
        owned(
            "1.0.0",
            Some("1.1.0"),
            "rollout `r1` full; shadow: 1.1.0 evaluated, not enforced"
        )
    );
}

#[test]
fn serve_paused_keeps_the_cohort() {
    let mut r = start(pct(25.0), Mode::Enforce);
    ok(r.pause(T0 + 1, "bob"));
    assert_eq!(
        serving(&r, "zeta"),
        owned(
            "1.1.0",
            None,
            "rollout `r1` at 25% (paused): tenant bucket 974 < 2500"
        )
    );
    assert_eq!(
        serving(&r, "acme"),
        owned(
            "1.0.0",
            None,
            "rollout `r1` at 25% (paused): tenant bucket 7914 >= 2500, stays on 1.0.0"
        )
    );
    let mut r = start(canary(&["acme"]), Mode::Shadow);
    ok(r.pause(T0 + 1, "bob"));
    assert_eq!(
        serving(&r, "acme"),
        owned(
            "1.0.0",
            Some("1.1.0"),
            "rollout `r1` canary (paused): tenant `acme` is named; shadow: 1.1.0 evaluated, not enforced"
        )
    );
    let mut r = start(Stage::Full, Mode::Enforce);
    ok(r.pause(T0 + 1, "bob"));
    assert_eq!(
        serving(&r, "acme"),
        owned("1.1.0", None, "rollout `r1` full (paused)")
    );
}

#[test]
fn serve_rolled_back() {
    for mode in [Mode::Enforce, Mode::Shadow] {
        for stage in [canary(&["acme"]), pct(100.0), Stage::Full] {
            let mut r = start(stage, mode);
            ok(r.rollback(T0 + 1, "bob"));
            for tenant in ["acme", "zeta", "globex"] {
                assert_eq!(
                    serving(&r, tenant),
                    owned("1.0.0", None, "rollout `r1` rolled back: serving 1.0.0")
                );
            }
        }
    }
}

#[test]
fn serve_completed() {
    for mode in [Mode::Enforce, Mode::Shadow] {
        let mut r = start(Stage::Full, mode);
        ok(r.complete(T0 + 1, "bob"));
        for tenant in ["acme", "zeta", "globex"] {
            assert_eq!(
                serving(&r, tenant),
                owned("1.1.0", None, "rollout `r1` completed: serving 1.1.0")
            );
        }
    }
}

// ---- buckets ----

#[test]
fn bucket_test_vectors() {
    // Persisted contract: these values were computed once (and checked
    // against Python's hashlib) and must never change.
    assert_eq!(bucket("r1", "acme"), 7914);
    assert_eq!(bucket("r1", "beta"), 8032);
    assert_eq!(bucket("rollout-2024-07", "globex"), 3275);
    assert_eq!(bucket("", ""), 3192);
}

#[test]
fn bucket_separates_id_and_tenant() {
    // Without the separator, ("r1", "acme") and ("r1a", "cme") would hash
    // the same bytes.
    assert_ne!(bucket("r1", "acme"), bucket("r1a", "cme"));
}

#[test]
fn bucket_depends_on_the_rollout() {
    let tenants: Vec<String> = (0..100).map(|i| format!("tenant-{i}")).collect();
    let a: Vec<u32> = tenants.iter().map(|t| bucket("r1", t)).collect();
    let b: Vec<u32> = tenants.iter().map(|t| bucket("r2", t)).collect();
    assert_ne!(a, b);
}

#[test]
fn buckets_are_roughly_uniform() {
    let r = start(pct(25.0), Mode::Enforce);
    let n = 10_000;
    let mut deciles = [0u32; 10];
    let mut in_cohort = 0;
    for i in 0..n {
        let tenant = format!("tenant-{i}");
        let b = bucket(&r.id, &tenant);
        assert!(b < BUCKETS);
        deciles[(b / 1000) as usize] += 1;
        if r.in_cohort(&tenant) {
            in_cohort += 1;
        }
    }
    assert!(
        (2200..=2800).contains(&in_cohort),
        "{in_cohort} of {n} tenants at 25%"
    );
    for (i, count) in deciles.iter().enumerate() {
        assert!(
            (800..=1200).contains(count),
            "decile {i} has {count} of {n} tenants"
        );
    }
}

#[test]
fn raising_the_percentage_only_grows_the_cohort() {
    let percents = [
        0.0, 0.01, 0.5, 1.0, 5.0, 10.0, 12.5, 25.0, 33.33, 50.0, 75.0, 99.99, 100.0,
    ];
    let tenants: Vec<String> = (0..5000)
        .map(|i| format!("tenant-{i}"))
        .chain(["acme", "beta", "globex", "zeta", ""].map(String::from))
        .collect();
    for id in [
        "r1",
        "r2",
        "rollout-2024-07",
        "01890f2e-7c1a-7b3e-9f00-1234567890ab",
    ] {
        let mut r = match Rollout::start(
            id,
            "treasury",
            v("1.0.0"),
            v("2.0.0"),
            canary(&["acme", "globex"]),
            Mode::Enforce,
            T0,
            "alice",
        ) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let mut previous: Vec<bool> = tenants.iter().map(|t| r.in_cohort(t)).collect();
        let named = |t: &str| t == "acme" || t == "globex";
        for (tenant, in_) in tenants.iter().zip(&previous) {
            assert_eq!(*in_, named(tenant), "canary of `{id}`: {tenant}");
        }
        for (step, percent) in percents.iter().enumerate() {
            ok(r.advance(pct(*percent), T0 + step as i64, "alice"));
            let current: Vec<bool> = tenants.iter().map(|t| r.in_cohort(t)).collect();
            for (i, tenant) in tenants.iter().enumerate() {
                assert!(
                    !previous[i] || current[i],
                    "tenant `{tenant}` left the cohort of `{id}` at {percent}%"
                );
                if *percent == 0.0 {
                    assert_eq!(current[i], named(tenant), "0% is only the canary");
                }
                // In the cohort means served the new version: no flapping.
                if previous[i] {
                    assert_eq!(r.serve(tenant).version, v("2.0.0"));
                }
            }
            previous = current;
        }
        assert!(previous.iter().all(|in_| *in_), "100% is everybody");
        ok(r.advance(Stage::Full, T0 + 100, "alice"));
        assert!(tenants.iter().all(|t| r.in_cohort(t)));
    }
}

// ---- JSON ----

fn to_json<T: Serialize>(value: &T) -> String {
    match serde_json::to_string(value) {
        Ok(s) => s,
        Err(e) => panic!("serialize: {e}"),
    }
}

fn from_json<T: for<'de> Deserialize<'de>>(json: &str) -> Result<T, String> {
    serde_json::from_str(json).map_err(|e| e.to_string())
}

#[test]
fn stage_json_shape() {
    assert_eq!(
        to_json(&canary(&["acme"])),
        r#"{"kind":"canary","tenants":["acme"]}"#
    );
    assert_eq!(to_json(&pct(25.0)), r#"{"kind":"percentage","percent":25}"#);
    assert_eq!(
        to_json(&pct(12.5)),
        r#"{"kind":"percentage","percent":12.5}"#
    );
    assert_eq!(to_json(&Stage::Full), r#"{"kind":"full"}"#);

    assert_eq!(
        from_json::<Stage>(r#"{"kind":"canary","tenants":["acme"]}"#),
        Ok(canary(&["acme"]))
    );
    assert_eq!(
        from_json::<Stage>(r#"{"kind":"percentage","percent":25}"#),
        Ok(pct(25.0))
    );
    assert_eq!(
        from_json::<Stage>(r#"{"kind":"percentage","percent":0.25}"#),
        Ok(pct(0.25))
    );
    assert_eq!(from_json::<Stage>(r#"{"kind":"full"}"#), Ok(Stage::Full));
}

#[test]
fn stage_json_rejects_unknown() {
    for json in [
        r#"{"kind":"canary","tenants":["acme"],"percent":5}"#,
        r#"{"kind":"percentage","percent":5,"tenants":[]}"#,
        r#"{"kind":"full","tenants":["acme"]}"#,
        r#"{"kind":"everyone"}"#,
        r#"{"percent":5}"#,
    ] {
        assert!(from_json::<Stage>(json).is_err(), "{json} was accepted");
    }
}

#[test]
fn mode_and_state_json() {
    assert_eq!(to_json(&Mode::Enforce), r#""enforce""#);
    assert_eq!(to_json(&Mode::Shadow), r#""shadow""#);
    assert_eq!(to_json(&State::Active), r#""active""#);
    assert_eq!(to_json(&State::Paused), r#""paused""#);
    assert_eq!(to_json(&State::RolledBack), r#""rolled-back""#);
    assert_eq!(to_json(&State::Completed), r#""completed""#);
    for state in [
        State::Active,
        State::Paused,
        State::RolledBack,
        State::Completed,
    ] {
        assert_eq!(to_json(&state), format!("\"{state}\""));
    }
}

#[test]
fn rollout_json_round_trip() {
    let mut r = start(canary(&["acme"]), Mode::Shadow);
    ok(r.advance(pct(12.5), T0 + 1, "bob"));
    ok(r.set_mode(Mode::Enforce, T0 + 2, "bob"));
    ok(r.pause(T0 + 3, "bob"));
    ok(r.resume(T0 + 4, "bob"));
    ok(r.advance(Stage::Full, T0 + 5, "bob"));
    ok(r.complete(T0 + 6, "bob"));
    let json = to_json(&r);
    assert_eq!(from_json::<Rollout>(&json), Ok(r.clone()));

    let value: serde_json::Value = match serde_json::from_str(&json) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    assert_eq!(value["id"], "r1");
    assert_eq!(value["pack"], "treasury");
    assert_eq!(value["from"], "1.0.0");
    assert_eq!(value["to"], "1.1.0");
    assert_eq!(value["stage"], serde_json::json!({"kind": "full"}));
    assert_eq!(value["mode"], "enforce");
    assert_eq!(value["state"], "completed");
    assert_eq!(
        value["history"][1],
        serde_json::json!({
            "action": "advance",
            "stage": {"kind": "percentage", "percent": 12.5},
            "mode": "shadow",
            "state": "active",
            "at_ms": T0 + 1,
            "by": "bob",
        })
    );
}

#[test]
fn rollout_json_rejects_unknown_fields() {
    let json = to_json(&active());
    let mut value: serde_json::Value = match serde_json::from_str(&json) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    value["extra"] = serde_json::json!(1);
    assert!(from_json::<Rollout>(&value.to_string()).is_err());

    let mut value: serde_json::Value = match serde_json::from_str(&json) {
        Ok(v) => v,
        Err(e) => panic!("{e}"),
    };
    value["history"][0]["extra"] = serde_json::json!(1);
    assert!(from_json::<Rollout>(&value.to_string()).is_err());
}

#[test]
fn labels() {
    assert_eq!(canary(&["acme", "beta"]).label(), "canary [acme, beta]");
    assert_eq!(pct(25.0).label(), "percentage 25%");
    assert_eq!(pct(0.05).label(), "percentage 0.05%");
    assert_eq!(Stage::Full.label(), "full");
}
