//! Staged rollouts of a pack version.
//!
//! A [`Rollout`] moves one fleet pack from version `from` to version `to` in
//! stages: a canary of named tenants, then a growing percentage of tenants,
//! then every tenant. [`Rollout::serve`] answers which version serves a given
//! tenant, and why.
//!
//! This module is pure: no I/O, no clock, no database. The control plane
//! stores a [`Rollout`] as JSON, calls the transition methods with the time
//! and the actor, and stores the result again:
//!
//! ```
//! use warden_host::rollout::{Mode, Rollout, Stage};
//!
//! let mut rollout = Rollout::start(
//!     "r1", "treasury",
//!     "1.0.0".parse()?, "1.1.0".parse()?,
//!     Stage::Canary { tenants: vec!["acme".into()] },
//!     Mode::Enforce, 1_700_000_000_000, "ops@example.com",
//! )?;
//! assert_eq!(rollout.serve("acme").version.to_string(), "1.1.0");
//! assert_eq!(rollout.serve("globex").version.to_string(), "1.0.0");
//!
//! rollout.advance(Stage::Percentage { percent: 25.0 }, 1_700_000_060_000, "ops@example.com")?;
//! let json = serde_json::to_string(&rollout)?;
//! let stored: Rollout = serde_json::from_str(&json)?;
//! assert_eq!(stored, rollout);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Every transition either succeeds and appends a [`HistoryEntry`], or returns
//! a [`RolloutError`] and leaves the rollout unchanged.
//!
//! Which tenants a percentage stage covers is decided by [`bucket`], a stable
//! hash of the rollout id and the tenant name. Because a tenant's bucket never
//! changes, raising the percentage only ever adds tenants to the cohort: no
//! tenant flaps between versions while a rollout progresses.
//!
//! Tenants named in a canary stay in the cohort at the later percentage
//! stages, whatever their bucket, so advancing from a canary to a percentage
//! does not send them back to `from` either. The canary's tenants are read
//! from the rollout's `history`, which is therefore part of its state.

use std::fmt;

use semver::Version;
use serde::{Deserialize, Serialize, Serializer};
use sha2::{Digest, Sha256};

/// The number of buckets [`bucket`] distributes tenants over: one per
/// hundredth of a percent.
pub const BUCKETS: u32 = 10_000;

/// Which tenants a rollout covers (its cohort).
///
/// Serialized with a `kind` tag:
///
/// ```json
/// {"kind": "canary", "tenants": ["acme"]}
/// {"kind": "percentage", "percent": 25}
/// {"kind": "full"}
/// ```
///
/// Stages are ordered: canary, then percentage, then full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "kind",
    rename_all = "kebab-case",
    deny_unknown_fields,
    from = "StageJson"
)]
pub enum Stage {
    /// Only the named tenants.
    Canary {
        /// The tenants in the canary; at least one.
        tenants: Vec<String>,
    },
    /// The tenants whose [`bucket`] is below `percent` hundredths of
    /// [`BUCKETS`], plus those named in an earlier canary stage.
    Percentage {
        /// Share of tenants, from 0 to 100, with at most 2 decimals.
        #[serde(serialize_with = "serialize_percent")]
        percent: f64,
    },
    /// Every tenant.
    Full,
}

/// The JSON form of [`Stage`] when reading. `Full` is a struct variant here
/// because serde ignores unknown fields on the unit variants of internally
/// tagged enums, and a stored stage with stray fields must be rejected.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
enum StageJson {
    Canary { tenants: Vec<String> },
    Percentage { percent: f64 },
    Full {},
}

impl From<StageJson> for Stage {
    fn from(json: StageJson) -> Self {
        match json {
            StageJson::Canary { tenants } => Stage::Canary { tenants },
            StageJson::Percentage { percent } => Stage::Percentage { percent },
            StageJson::Full {} => Stage::Full,
        }
    }
}

/// Writes a whole percent as an integer (`25`, not `25.0`).
fn serialize_percent<S: Serializer>(percent: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    if percent.is_finite() && percent.fract() == 0.0 && percent.abs() <= 1e15 {
        serializer.serialize_i64(*percent as i64)
    } else {
        serializer.serialize_f64(*percent)
    }
}

impl Stage {
    /// A short human-readable name: `canary [acme, beta]`, `percentage 25%`,
    /// `full`.
    pub fn label(&self) -> String {
        match self {
            Stage::Canary { tenants } => format!("canary [{}]", tenants.join(", ")),
            Stage::Percentage { percent } => format!("percentage {percent}%"),
            Stage::Full => "full".to_owned(),
        }
    }

    /// Checks the stage on its own: a canary names at least one tenant, each
    /// once and none empty; a percentage is between 0 and 100 with at most 2
    /// decimals.
    pub fn validate(&self) -> Result<(), RolloutError> {
        match self {
            Stage::Canary { tenants } => {
                if tenants.is_empty() {
                    return Err(RolloutError::EmptyCanary);
                }
                for (i, tenant) in tenants.iter().enumerate() {
                    if tenant.is_empty() {
                        return Err(RolloutError::EmptyTenant);
                    }
                    if tenants[..i].contains(tenant) {
                        return Err(RolloutError::DuplicateTenant {
                            tenant: tenant.clone(),
                        });
                    }
                }
                Ok(())
            }
            Stage::Percentage { percent } => {
                if !(0.0..=100.0).contains(percent) {
                    return Err(RolloutError::PercentOutOfRange { percent: *percent });
                }
                let hundredths = percent * 100.0;
                if (hundredths.round() - hundredths).abs() > 1e-6 {
                    return Err(RolloutError::PercentPrecision { percent: *percent });
                }
                Ok(())
            }
            Stage::Full => Ok(()),
        }
    }

    /// Position in the canary < percentage < full order.
    fn rank(&self) -> u8 {
        match self {
            Stage::Canary { .. } => 0,
            Stage::Percentage { .. } => 1,
            Stage::Full => 2,
        }
    }

    /// Checks that `next` moves forward from `self`.
    fn check_forward(&self, next: &Stage) -> Result<(), RolloutError> {
        let backwards = || RolloutError::Backwards {
            from: self.label(),
            to: next.label(),
        };
        match (self, next) {
            (Stage::Canary { tenants: old }, Stage::Canary { tenants: new }) => {
                if let Some(dropped) = old.iter().find(|t| !new.contains(t)) {
                    return Err(RolloutError::CanaryRemovesTenant {
                        tenant: dropped.clone(),
                    });
                }
                if new.len() <= old.len() {
                    return Err(backwards());
                }
                Ok(())
            }
            (Stage::Percentage { percent: old }, Stage::Percentage { percent: new }) => {
                if threshold(*new) <= threshold(*old) {
                    return Err(backwards());
                }
                Ok(())
            }
            _ if next.rank() > self.rank() => Ok(()),
            _ => Err(backwards()),
        }
    }
}

/// The bucket count below which a tenant is in a percentage's cohort:
/// `round(percent * 100)`, clamped to `0..=BUCKETS` (`NaN` gives 0).
fn threshold(percent: f64) -> u32 {
    // `as` saturates: negative and NaN give 0.
    ((percent * 100.0).round() as u32).min(BUCKETS)
}

/// How tenants in the cohort are served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Tenants in the cohort are served `to`.
    Enforce,
    /// Tenants in the cohort are served `from`; `to` is evaluated alongside
    /// without being enforced, and the caller records differing decisions.
    Shadow,
}

impl Mode {
    /// The serialized name: `enforce` or `shadow`.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Enforce => "enforce",
            Mode::Shadow => "shadow",
        }
    }
}

impl fmt::Display for Mode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where a rollout is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum State {
    /// Progressing; the stage may be advanced.
    Active,
    /// Progress stopped; the current stage's cohort is still served `to`.
    Paused,
    /// Abandoned: every tenant is served `from`. Final.
    RolledBack,
    /// Done: every tenant is served `to`. Final.
    Completed,
}

impl State {
    /// The serialized name: `active`, `paused`, `rolled-back`, `completed`.
    pub fn as_str(self) -> &'static str {
        match self {
            State::Active => "active",
            State::Paused => "paused",
            State::RolledBack => "rolled-back",
            State::Completed => "completed",
        }
    }

    /// Whether no transition can leave this state.
    pub fn is_final(self) -> bool {
        matches!(self, State::RolledBack | State::Completed)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One transition of a rollout, with the stage, mode and state it led to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryEntry {
    /// What happened: `start`, `advance`, `pause`, `resume`, `rollback`,
    /// `complete` or `mode`.
    pub action: String,
    /// The stage after the transition.
    pub stage: Stage,
    /// The mode after the transition.
    pub mode: Mode,
    /// The state after the transition.
    pub state: State,
    /// When, in milliseconds since the Unix epoch (as given by the caller).
    pub at_ms: i64,
    /// Who made the transition (as given by the caller).
    pub by: String,
}

/// A staged rollout of one fleet pack from version `from` to version `to`.
///
/// Create one with [`Rollout::start`]; change it only through the transition
/// methods, which keep `history` complete.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// The rollout's id; also the seed of the tenants' [`bucket`]s.
    pub id: String,
    /// The name of the pack being rolled out.
    pub pack: String,
    /// The version tenants outside the cohort are served.
    pub from: Version,
    /// The version being rolled out.
    pub to: Version,
    /// The current stage.
    pub stage: Stage,
    /// Whether the cohort is served `to` or only shadow-evaluates it.
    pub mode: Mode,
    /// The current state.
    pub state: State,
    /// Every transition, oldest first, starting with `start`.
    pub history: Vec<HistoryEntry>,
}

/// Which version of the pack serves a tenant, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Serving {
    /// The version whose decisions are enforced.
    pub version: Version,
    /// A version to evaluate alongside without enforcing it (shadow mode).
    pub shadow: Option<Version>,
    /// Why, for logs and explanations.
    pub reason: String,
}

/// Why a rollout could not be started or changed. The rollout is unchanged.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum RolloutError {
    /// A percentage outside `0..=100`.
    #[error("invalid stage: percent must be between 0 and 100, got `{percent}`")]
    PercentOutOfRange {
        /// The percentage given.
        percent: f64,
    },
    /// A percentage with more than 2 decimals.
    #[error("invalid stage: percent may have at most 2 decimals, got `{percent}`")]
    PercentPrecision {
        /// The percentage given.
        percent: f64,
    },
    /// A canary with no tenants.
    #[error("invalid stage: canary needs at least one tenant")]
    EmptyCanary,
    /// A canary with an empty tenant name.
    #[error("invalid stage: canary tenant names must not be empty")]
    EmptyTenant,
    /// A canary naming the same tenant twice.
    #[error("invalid stage: canary names tenant `{tenant}` twice")]
    DuplicateTenant {
        /// The tenant.
        tenant: String,
    },
    /// `from` and `to` are equal.
    #[error("from and to are the same version `{version}`")]
    SameVersion {
        /// The version.
        version: Version,
    },
    /// The new stage is not after the current one.
    #[error("stage must move forward: `{from}` -> `{to}`")]
    Backwards {
        /// Label of the current stage.
        from: String,
        /// Label of the rejected stage.
        to: String,
    },
    /// A new canary that leaves out a tenant of the current one.
    #[error("a canary can only add tenants: `{tenant}` is missing from the new canary")]
    CanaryRemovesTenant {
        /// The tenant left out.
        tenant: String,
    },
    /// The transition is progress, which a paused rollout does not make.
    #[error("cannot {action} a paused rollout `{id}`; resume it first")]
    Paused {
        /// The rollout.
        id: String,
        /// What was attempted: `advance`, `enforce`, `complete`.
        action: String,
    },
    /// The rollout is rolled back or completed.
    #[error("rollout `{id}` is {state}; start a new rollout")]
    Finished {
        /// The rollout.
        id: String,
        /// Its final state.
        state: State,
    },
    /// Pausing a rollout that is already paused.
    #[error("rollout `{id}` is already paused")]
    AlreadyPaused {
        /// The rollout.
        id: String,
    },
    /// Resuming a rollout that is not paused.
    #[error("rollout `{id}` is not paused; only a paused rollout can be resumed")]
    NotPaused {
        /// The rollout.
        id: String,
    },
    /// Setting the mode the rollout already has.
    #[error("rollout `{id}` is already in `{mode}` mode")]
    ModeUnchanged {
        /// The rollout.
        id: String,
        /// The mode.
        mode: Mode,
    },
    /// Completing a rollout before it reaches the full stage.
    #[error("cannot complete rollout `{id}` at `{stage}`; advance it to `full` first")]
    NotFull {
        /// The rollout.
        id: String,
        /// Label of the current stage.
        stage: String,
    },
}

impl Rollout {
    /// Starts a rollout of `pack` from `from` to `to` at `stage`, in `mode`,
    /// with a `start` history entry at `at_ms` by `by`.
    ///
    /// Fails if the stage is invalid or `from` equals `to`.
    #[allow(clippy::too_many_arguments)]
    pub fn start(
        id: impl Into<String>,
        pack: impl Into<String>,
        from: Version,
        to: Version,
        stage: Stage,
        mode: Mode,
        at_ms: i64,
        by: impl Into<String>,
    ) -> Result<Self, RolloutError> {
        stage.validate()?;
        if from == to {
            return Err(RolloutError::SameVersion { version: from });
        }
        let mut rollout = Rollout {
            id: id.into(),
            pack: pack.into(),
            from,
            to,
            stage,
            mode,
            state: State::Active,
            history: Vec::new(),
        };
        rollout.record("start", at_ms, by);
        Ok(rollout)
    }

    /// Moves an active rollout to a later stage: canary, then percentage,
    /// then full. A percentage may only increase; a canary may only add
    /// tenants.
    pub fn advance(
        &mut self,
        stage: Stage,
        at_ms: i64,
        by: impl Into<String>,
    ) -> Result<(), RolloutError> {
        self.require_active("advance")?;
        stage.validate()?;
        self.stage.check_forward(&stage)?;
        self.stage = stage;
        self.record("advance", at_ms, by);
        Ok(())
    }

    /// Switches between enforce and shadow mode, in an active or paused
    /// rollout. Switching a paused rollout to enforce is progress, so it must
    /// be resumed first; switching a paused one to shadow is allowed.
    pub fn set_mode(
        &mut self,
        mode: Mode,
        at_ms: i64,
        by: impl Into<String>,
    ) -> Result<(), RolloutError> {
        self.require_not_final()?;
        if self.state == State::Paused && mode == Mode::Enforce {
            return Err(self.paused("enforce"));
        }
        if mode == self.mode {
            return Err(RolloutError::ModeUnchanged {
                id: self.id.clone(),
                mode,
            });
        }
        self.mode = mode;
        self.record("mode", at_ms, by);
        Ok(())
    }

    /// Pauses an active rollout: it stops progressing, but keeps serving the
    /// current stage's cohort.
    pub fn pause(&mut self, at_ms: i64, by: impl Into<String>) -> Result<(), RolloutError> {
        self.require_not_final()?;
        if self.state == State::Paused {
            return Err(RolloutError::AlreadyPaused {
                id: self.id.clone(),
            });
        }
        self.state = State::Paused;
        self.record("pause", at_ms, by);
        Ok(())
    }

    /// Resumes a paused rollout.
    pub fn resume(&mut self, at_ms: i64, by: impl Into<String>) -> Result<(), RolloutError> {
        self.require_not_final()?;
        if self.state != State::Paused {
            return Err(RolloutError::NotPaused {
                id: self.id.clone(),
            });
        }
        self.state = State::Active;
        self.record("resume", at_ms, by);
        Ok(())
    }

    /// Rolls back an active or paused rollout: every tenant is served `from`
    /// again. Final.
    pub fn rollback(&mut self, at_ms: i64, by: impl Into<String>) -> Result<(), RolloutError> {
        self.require_not_final()?;
        self.state = State::RolledBack;
        self.record("rollback", at_ms, by);
        Ok(())
    }

    /// Completes an active rollout at the full stage: every tenant is served
    /// `to`. Final.
    pub fn complete(&mut self, at_ms: i64, by: impl Into<String>) -> Result<(), RolloutError> {
        self.require_active("complete")?;
        if self.stage != Stage::Full {
            return Err(RolloutError::NotFull {
                id: self.id.clone(),
                stage: self.stage.label(),
            });
        }
        self.state = State::Completed;
        self.record("complete", at_ms, by);
        Ok(())
    }

    /// Whether `tenant` is in the current stage's cohort, regardless of the
    /// state: at a canary, named in it; at a percentage, named in an earlier
    /// canary or [`bucket`] below `round(percent * 100)`; at full, always.
    ///
    /// Since a canary only adds tenants, buckets are fixed and percentages
    /// only increase, advancing never removes a tenant from the cohort.
    pub fn in_cohort(&self, tenant: &str) -> bool {
        match &self.stage {
            Stage::Canary { tenants } => tenants.iter().any(|t| t == tenant),
            Stage::Percentage { percent } => {
                bucket(&self.id, tenant) < threshold(*percent) || self.was_canary(tenant)
            }
            Stage::Full => true,
        }
    }

    /// Whether `tenant` was named in a canary stage of this rollout's
    /// history. Canaries only add tenants, so the last one names them all.
    fn was_canary(&self, tenant: &str) -> bool {
        self.history
            .iter()
            .rev()
            .find_map(|entry| match &entry.stage {
                Stage::Canary { tenants } => Some(tenants),
                _ => None,
            })
            .is_some_and(|tenants| tenants.iter().any(|t| t == tenant))
    }

    /// Which version serves `tenant`, and why.
    ///
    /// Rolled back: `from`. Completed: `to`. Active or paused: a tenant in
    /// the cohort is served `to` in enforce mode, or `from` with `to` as the
    /// shadow in shadow mode; a tenant outside the cohort is served `from`.
    pub fn serve(&self, tenant: &str) -> Serving {
        let id = &self.id;
        match self.state {
            State::RolledBack => {
                return Serving {
                    version: self.from.clone(),
                    shadow: None,
                    reason: format!("rollout `{id}` rolled back: serving {}", self.from),
                };
            }
            State::Completed => {
                return Serving {
                    version: self.to.clone(),
                    shadow: None,
                    reason: format!("rollout `{id}` completed: serving {}", self.to),
                };
            }
            State::Active | State::Paused => {}
        }
        let paused = if self.state == State::Paused {
            " (paused)"
        } else {
            ""
        };
        let in_cohort = self.in_cohort(tenant);
        let why = match &self.stage {
            Stage::Canary { .. } if in_cohort => {
                format!("rollout `{id}` canary{paused}: tenant `{tenant}` is named")
            }
            Stage::Canary { .. } => {
                format!("rollout `{id}` canary{paused}: tenant `{tenant}` is not named")
            }
            Stage::Percentage { percent } => {
                let bucket = bucket(id, tenant);
                let threshold = threshold(*percent);
                if bucket < threshold {
                    format!(
                        "rollout `{id}` at {percent}%{paused}: tenant bucket {bucket} < {threshold}"
                    )
                } else if in_cohort {
                    format!(
                        "rollout `{id}` at {percent}%{paused}: tenant `{tenant}` stays from the canary (bucket {bucket} >= {threshold})"
                    )
                } else {
                    format!(
                        "rollout `{id}` at {percent}%{paused}: tenant bucket {bucket} >= {threshold}"
                    )
                }
            }
            Stage::Full => format!("rollout `{id}` full{paused}"),
        };
        if !in_cohort {
            return Serving {
                version: self.from.clone(),
                shadow: None,
                reason: format!("{why}, stays on {}", self.from),
            };
        }
        match self.mode {
            Mode::Enforce => Serving {
                version: self.to.clone(),
                shadow: None,
                reason: why,
            },
            Mode::Shadow => Serving {
                version: self.from.clone(),
                shadow: Some(self.to.clone()),
                reason: format!("{why}; shadow: {} evaluated, not enforced", self.to),
            },
        }
    }

    /// Appends a history entry with the current stage, mode and state.
    fn record(&mut self, action: &str, at_ms: i64, by: impl Into<String>) {
        self.history.push(HistoryEntry {
            action: action.to_owned(),
            stage: self.stage.clone(),
            mode: self.mode,
            state: self.state,
            at_ms,
            by: by.into(),
        });
    }

    fn require_not_final(&self) -> Result<(), RolloutError> {
        if self.state.is_final() {
            return Err(RolloutError::Finished {
                id: self.id.clone(),
                state: self.state,
            });
        }
        Ok(())
    }

    fn require_active(&self, action: &str) -> Result<(), RolloutError> {
        self.require_not_final()?;
        if self.state == State::Paused {
            return Err(self.paused(action));
        }
        Ok(())
    }

    fn paused(&self, action: &str) -> RolloutError {
        RolloutError::Paused {
            id: self.id.clone(),
            action: action.to_owned(),
        }
    }
}

/// The bucket of `tenant` in rollout `rollout_id`, in `0..BUCKETS`.
///
/// The first 8 bytes, big-endian, of the SHA-256 of `rollout_id`, a `0x00`
/// byte and `tenant` (both UTF-8), modulo [`BUCKETS`].
///
/// This is a persisted contract: buckets decide which tenants a stored
/// rollout serves, so they must be the same in every process and every
/// version of warden. Never change this function; the tests pin it with
/// fixed vectors. Seeding with the rollout id gives each rollout a different
/// order of tenants, so the same tenants are not always first.
pub fn bucket(rollout_id: &str, tenant: &str) -> u32 {
    let mut hasher = Sha256::new();
    hasher.update(rollout_id.as_bytes());
    hasher.update([0u8]);
    hasher.update(tenant.as_bytes());
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    // The remainder is below 10_000, so it fits in a u32.
    (u64::from_be_bytes(first) % u64::from(BUCKETS)) as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_700_000_000_000;

    fn v(s: &str) -> Version {
        match Version::parse(s) {
            Ok(v) => v,
            Err(e) => panic!("bad version {s}: {e}"),
        }
    }

    fn canary(tenants: &[&str]) -> Stage {
        Stage::Canary {
            tenants: tenants.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    fn pct(percent: f64) -> Stage {
        Stage::Percentage { percent }
    }

    fn start(stage: Stage, mode: Mode) -> Rollout {
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

    fn active() -> Rollout {
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

    // ---- serve ----

    fn serving(r: &Rollout, tenant: &str) -> (String, Option<String>, String) {
        let s = r.serve(tenant);
        (
            s.version.to_string(),
            s.shadow.map(|v| v.to_string()),
            s.reason,
        )
    }

    fn owned(
        version: &str,
        shadow: Option<&str>,
        reason: &str,
    ) -> (String, Option<String>, String) {
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
}
