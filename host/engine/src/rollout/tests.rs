//! Unit tests of the parent module: transitions here, serving and JSON in `serving`.

mod serving;

use super::*;

pub(super) const T0: i64 = 1_700_000_000_000;

pub(super) fn v(s: &str) -> Version {
    match Version::parse(s) {
        Ok(v) => v,
        Err(e) => panic!("bad version {s}: {e}"),
    }
}

pub(super) fn canary(tenants: &[&str]) -> Stage {
    Stage::Canary {
        tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
    }
}

pub(super) fn pct(percent: f64) -> Stage {
    Stage::Percentage { percent }
}

pub(super) fn start(stage: Stage, mode: Mode) -> Rollout {
    match Rollout::start(
        "r1",
        "treasury",
        v("1.0.0"),
        v("1.1.0"),
        stage,
        mode,
        T0,
        "alice",
    ) {
        Ok(r) => r,
        Err(e) => panic!("start failed: {e}"),
    }
}

pub(super) fn active() -> Rollout {
    start(canary(&["acme"]), Mode::Enforce)
}

fn paused() -> Rollout {
    let mut r = active();
    ok(r.pause(T0 + 1, "bob"));
    r
}

fn rolled_back() -> Rollout {
    let mut r = active();
    ok(r.rollback(T0 + 1, "bob"));
    r
}

fn completed() -> Rollout {
    let mut r = active();
    ok(r.advance(Stage::Full, T0 + 1, "bob"));
    ok(r.complete(T0 + 2, "bob"));
    r
}

fn ok(result: Result<(), RolloutError>) {
    if let Err(e) = result {
        panic!("unexpected error: {e}");
    }
}

/// Runs an invalid transition on a copy, checks the error message and
/// that the rollout is unchanged.
fn rejects(
    rollout: &Rollout,
    op: impl FnOnce(&mut Rollout) -> Result<(), RolloutError>,
    message: &str,
) {
    let mut copy = rollout.clone();
    match op(&mut copy) {
        Ok(()) => panic!("expected error `{message}`, got success"),
        Err(e) => assert_eq!(e.to_string(), message),
    }
    assert_eq!(&copy, rollout, "an invalid transition changed the rollout");
}

fn last(r: &Rollout) -> &HistoryEntry {
    match r.history.last() {
        Some(h) => h,
        None => panic!("empty history"),
    }
}

// ---- start ----

#[test]
fn start_records_history() {
    let r = start(pct(25.0), Mode::Shadow);
    assert_eq!(r.state, State::Active);
    assert_eq!(r.mode, Mode::Shadow);
    assert_eq!(r.stage, pct(25.0));
    assert_eq!(
        r.history,
        vec![HistoryEntry {
            action: "start".into(),
            stage: pct(25.0),
            mode: Mode::Shadow,
            state: State::Active,
            at_ms: T0,
            by: "alice".into(),
        }]
    );
}

#[test]
fn start_accepts_every_kind_of_stage() {
    for stage in [
        canary(&["acme", "beta"]),
        pct(0.0),
        pct(0.01),
        pct(100.0),
        Stage::Full,
    ] {
        let r = start(stage.clone(), Mode::Enforce);
        assert_eq!(r.stage, stage);
    }
}

#[test]
fn start_rejects_invalid_input() {
    let cases: Vec<(Stage, &str, &str)> = vec![
        (
            pct(150.0),
            "1.1.0",
            "invalid stage: percent must be between 0 and 100, got `150`",
        ),
        (
            pct(-1.0),
            "1.1.0",
            "invalid stage: percent must be between 0 and 100, got `-1`",
        ),
        (
            pct(f64::NAN),
            "1.1.0",
            "invalid stage: percent must be between 0 and 100, got `NaN`",
        ),
        (
            pct(12.345),
            "1.1.0",
            "invalid stage: percent may have at most 2 decimals, got `12.345`",
        ),
        (
            canary(&[]),
            "1.1.0",
            "invalid stage: canary needs at least one tenant",
        ),
        (
            canary(&["acme", ""]),
            "1.1.0",
            "invalid stage: canary tenant names must not be empty",
        ),
        (
            canary(&["acme", "beta", "acme"]),
            "1.1.0",
            "invalid stage: canary names tenant `acme` twice",
        ),
        (
            Stage::Full,
            "1.0.0",
            "from and to are the same version `1.0.0`",
        ),
    ];
    for (stage, to, message) in cases {
        let result = Rollout::start(
            "r1",
            "treasury",
            v("1.0.0"),
            v(to),
            stage,
            Mode::Enforce,
            T0,
            "alice",
        );
        match result {
            Ok(r) => panic!("expected `{message}`, got {r:?}"),
            Err(e) => assert_eq!(e.to_string(), message),
        }
    }
}

#[test]
fn percent_with_two_decimals_is_valid() {
    for p in [0.29, 12.34, 33.33, 99.99, 0.07] {
        assert_eq!(pct(p).validate(), Ok(()), "{p}");
    }
}

// ---- advance ----

#[test]
fn advance_moves_forward() {
    let mut r = active();
    ok(r.advance(canary(&["acme", "beta"]), T0 + 1, "bob"));
    ok(r.advance(pct(5.0), T0 + 2, "bob"));
    ok(r.advance(pct(5.5), T0 + 3, "bob"));
    ok(r.advance(pct(100.0), T0 + 4, "bob"));
    ok(r.advance(Stage::Full, T0 + 5, "carol"));
    assert_eq!(r.stage, Stage::Full);
    assert_eq!(r.state, State::Active);
    let actions: Vec<&str> = r.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "start", "advance", "advance", "advance", "advance", "advance"
        ]
    );
    assert_eq!(
        last(&r),
        &HistoryEntry {
            action: "advance".into(),
            stage: Stage::Full,
            mode: Mode::Enforce,
            state: State::Active,
            at_ms: T0 + 5,
            by: "carol".into(),
        }
    );
}

#[test]
fn advance_may_skip_stages() {
    let mut r = active();
    ok(r.advance(Stage::Full, T0 + 1, "bob"));
    let mut r = start(canary(&["acme"]), Mode::Enforce);
    ok(r.advance(pct(50.0), T0 + 1, "bob"));
}

#[test]
fn canary_may_add_tenants_in_any_order() {
    let mut r = start(canary(&["acme", "beta"]), Mode::Enforce);
    ok(r.advance(canary(&["gamma", "beta", "acme"]), T0 + 1, "bob"));
    assert_eq!(r.stage, canary(&["gamma", "beta", "acme"]));
}

#[test]
fn advance_rejects_backwards_or_equal_stages() {
    let at_50 = {
        let mut r = active();
        ok(r.advance(pct(50.0), T0 + 1, "bob"));
        r
    };
    let full = start(Stage::Full, Mode::Enforce);
    let canary_ab = start(canary(&["acme", "beta"]), Mode::Enforce);
    let cases: Vec<(&Rollout, Stage, &str)> = vec![
        (
            &at_50,
            canary(&["acme"]),
            "stage must move forward: `percentage 50%` -> `canary [acme]`",
        ),
        (
            &at_50,
            pct(25.0),
            "stage must move forward: `percentage 50%` -> `percentage 25%`",
        ),
        (
            &at_50,
            pct(50.0),
            "stage must move forward: `percentage 50%` -> `percentage 50%`",
        ),
        (
            &full,
            pct(100.0),
            "stage must move forward: `full` -> `percentage 100%`",
        ),
        (
            &full,
            canary(&["acme"]),
            "stage must move forward: `full` -> `canary [acme]`",
        ),
        (
            &full,
            Stage::Full,
            "stage must move forward: `full` -> `full`",
        ),
        (
            &canary_ab,
            canary(&["beta", "acme"]),
            "stage must move forward: `canary [acme, beta]` -> `canary [beta, acme]`",
        ),
        (
            &canary_ab,
            canary(&["acme", "gamma"]),
            "a canary can only add tenants: `beta` is missing from the new canary",
        ),
        (
            &canary_ab,
            canary(&["acme"]),
            "a canary can only add tenants: `beta` is missing from the new canary",
        ),
        (
            &canary_ab,
            pct(101.0),
            "invalid stage: percent must be between 0 and 100, got `101`",
        ),
        (
            &canary_ab,
            canary(&["acme", "beta", "beta"]),
            "invalid stage: canary names tenant `beta` twice",
        ),
    ];
    for (rollout, stage, message) in cases {
        rejects(rollout, |r| r.advance(stage, T0 + 9, "bob"), message);
    }
}

#[test]
fn advance_requires_active() {
    rejects(
        &paused(),
        |r| r.advance(Stage::Full, T0 + 9, "bob"),
        "cannot advance a paused rollout `r1`; resume it first",
    );
    rejects(
        &rolled_back(),
        |r| r.advance(Stage::Full, T0 + 9, "bob"),
        "rollout `r1` is rolled-back; start a new rollout",
    );
    rejects(
        &completed(),
        |r| r.advance(Stage::Full, T0 + 9, "bob"),
        "rollout `r1` is completed; start a new rollout",
    );
}

// ---- mode ----

#[test]
fn set_mode_switches_and_records() {
    let mut r = active();
    ok(r.set_mode(Mode::Shadow, T0 + 1, "bob"));
    assert_eq!(r.mode, Mode::Shadow);
    assert_eq!(last(&r).action, "mode");
    assert_eq!(last(&r).mode, Mode::Shadow);
    ok(r.set_mode(Mode::Enforce, T0 + 2, "bob"));
    assert_eq!(r.mode, Mode::Enforce);
    assert_eq!(r.history.len(), 3);
}

#[test]
fn paused_rollout_may_switch_to_shadow_only() {
    let mut r = paused();
    ok(r.set_mode(Mode::Shadow, T0 + 2, "bob"));
    assert_eq!(r.state, State::Paused);
    assert_eq!(last(&r).state, State::Paused);
    rejects(
        &r,
        |r| r.set_mode(Mode::Enforce, T0 + 3, "bob"),
        "cannot enforce a paused rollout `r1`; resume it first",
    );
}

#[test]
fn set_mode_rejects_invalid() {
    rejects(
        &active(),
        |r| r.set_mode(Mode::Enforce, T0 + 9, "bob"),
        "rollout `r1` is already in `enforce` mode",
    );
    rejects(
        &rolled_back(),
        |r| r.set_mode(Mode::Shadow, T0 + 9, "bob"),
        "rollout `r1` is rolled-back; start a new rollout",
    );
    rejects(
        &completed(),
        |r| r.set_mode(Mode::Shadow, T0 + 9, "bob"),
        "rollout `r1` is completed; start a new rollout",
    );
}

// ---- pause / resume ----

#[test]
fn pause_and_resume() {
    let mut r = active();
    ok(r.pause(T0 + 1, "bob"));
    assert_eq!(r.state, State::Paused);
    assert_eq!(last(&r).action, "pause");
    assert_eq!(last(&r).state, State::Paused);
    ok(r.resume(T0 + 2, "carol"));
    assert_eq!(r.state, State::Active);
    assert_eq!(last(&r).action, "resume");
    assert_eq!(last(&r).state, State::Active);
    assert_eq!(last(&r).by, "carol");
    ok(r.advance(Stage::Full, T0 + 3, "carol"));
}

#[test]
fn pause_rejects_invalid() {
    rejects(
        &paused(),
        |r| r.pause(T0 + 9, "bob"),
        "rollout `r1` is already paused",
    );
    rejects(
        &rolled_back(),
        |r| r.pause(T0 + 9, "bob"),
        "rollout `r1` is rolled-back; start a new rollout",
    );
    rejects(
        &completed(),
        |r| r.pause(T0 + 9, "bob"),
        "rollout `r1` is completed; start a new rollout",
    );
}

#[test]
fn resume_rejects_invalid() {
    rejects(
        &active(),
        |r| r.resume(T0 + 9, "bob"),
        "rollout `r1` is not paused; only a paused rollout can be resumed",
    );
    rejects(
        &rolled_back(),
        |r| r.resume(T0 + 9, "bob"),
        "rollout `r1` is rolled-back; start a new rollout",
    );
    rejects(
        &completed(),
        |r| r.resume(T0 + 9, "bob"),
        "rollout `r1` is completed; start a new rollout",
    );
}

// ---- rollback ----

#[test]
fn rollback_from_active_and_paused() {
    for mut r in [active(), paused()] {
        let stage = r.stage.clone();
        ok(r.rollback(T0 + 5, "bob"));
        assert_eq!(r.state, State::RolledBack);
        assert_eq!(r.stage, stage, "rollback keeps the stage for the record");
        assert_eq!(last(&r).action, "rollback");
        assert_eq!(last(&r).state, State::RolledBack);
    }
}

#[test]
fn rollback_rejects_final_states() {
    rejects(
        &rolled_back(),
        |r| r.rollback(T0 + 9, "bob"),
        "rollout `r1` is rolled-back; start a new rollout",
    );
    rejects(
        &completed(),
        |r| r.rollback(T0 + 9, "bob"),
        "rollout `r1` is completed; start a new rollout",
    );
}

// ---- complete ----

#[test]
fn complete_at_full() {
    let r = completed();
    assert_eq!(r.state, State::Completed);
    assert_eq!(last(&r).action, "complete");
    assert_eq!(last(&r).state, State::Completed);
    let actions: Vec<&str> = r.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(actions, ["start", "advance", "complete"]);
}

#[test]
fn complete_rejects_invalid() {
    rejects(
        &active(),
        |r| r.complete(T0 + 9, "bob"),
        "cannot complete rollout `r1` at `canary [acme]`; advance it to `full` first",
    );
    let at_100 = start(pct(100.0), Mode::Enforce);
    rejects(
        &at_100,
        |r| r.complete(T0 + 9, "bob"),
        "cannot complete rollout `r1` at `percentage 100%`; advance it to `full` first",
    );
    let mut paused_full = start(Stage::Full, Mode::Enforce);
    ok(paused_full.pause(T0 + 1, "bob"));
    rejects(
        &paused_full,
        |r| r.complete(T0 + 9, "bob"),
        "cannot complete a paused rollout `r1`; resume it first",
    );
    rejects(
        &rolled_back(),
        |r| r.complete(T0 + 9, "bob"),
        "rollout `r1` is rolled-back; start a new rollout",
    );
    rejects(
        &completed(),
        |r| r.complete(T0 + 9, "bob"),
        "rollout `r1` is completed; start a new rollout",
    );
}
