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

use std::collections::BTreeMap;
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
    /// Tenants in the cohort that cannot build their composition with `to`
    /// (a layer configures a rule `to` drops, a parameter it rejects), and
    /// why: they stay on `from` until a later step finds them compatible.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub held: BTreeMap<String, String>,
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
    /// Completing would move tenants onto a version they cannot build.
    #[error(
        "rollout `{id}` holds tenants `{tenants}` on its old version (their compositions cannot be built with the new one): change their layers or pin the pack's version in their compositions, advance again, then complete"
    )]
    Held {
        /// The rollout.
        id: String,
        /// The held tenants.
        tenants: String,
    },
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
            held: BTreeMap::new(),
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
        if !self.held.is_empty() {
            return Err(RolloutError::Held {
                id: self.id.clone(),
                tenants: self.held.keys().cloned().collect::<Vec<_>>().join("`, `"),
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
        if let Some(why) = self.held.get(tenant).filter(|_| in_cohort) {
            return Serving {
                version: self.from.clone(),
                shadow: None,
                reason: format!(
                    "rollout `{id}` holds tenant `{tenant}` on {}: its composition cannot be built with {}: {why}",
                    self.from, self.to
                ),
            };
        }
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
mod tests;
