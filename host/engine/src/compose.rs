//! A tenant's composition: its ordered packs, override layers, default effect
//! and isolation mode; and evaluating a request against it.

use crate::bindings::wit;
use crate::breaker::{Admit, Breaker, BreakerConfig, Breakers};
use crate::decide::{
    self, Decision, Explanation, FindingRecord, OVERLOADED_RULE, PACK_FAILURE_RULE, PackRun,
};
use crate::error::{ComposeError, InputError};
use crate::layers::{self, EffectiveRule, Layer};
use crate::pack::Pack;
use crate::request::{Request, ValidRequest, parse_json};
use crate::sandbox::{CallFailure, InstancePool, Live};
use crate::verdict::Verdict;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;
use std::time::Instant;

/// How pack instances are isolated between decisions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Isolation {
    /// A fresh instance per pack per decision: nothing survives a decision.
    #[default]
    Fresh,
    /// Instances are reused across decisions of this composition (one tenant,
    /// one pack version), recycled after `max_uses` calls and after any failure.
    Reuse,
}

fn default_max_uses() -> u32 {
    10_000
}

fn default_effect() -> Verdict {
    Verdict::Deny
}

/// The settings document of a composition (JSON or TOML).
///
/// ```json
/// {"default_effect": "deny", "isolation": "reuse",
///  "layers": [{"name": "fleet", "packs": {"treasury": {"amount-limit": {"enabled": true}}}}]}
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompositionSpec {
    /// The verdict when no rule applies (`deny` unless configured).
    #[serde(default = "default_effect")]
    pub default_effect: Verdict,
    /// Fresh instances per decision, or reuse within this composition.
    #[serde(default)]
    pub isolation: Isolation,
    /// In reuse mode, calls after which an instance is recycled.
    #[serde(default = "default_max_uses")]
    pub max_uses: u32,
    /// Override layers, least specific first.
    #[serde(default)]
    pub layers: Vec<Layer>,
}

impl Default for CompositionSpec {
    fn default() -> Self {
        CompositionSpec {
            default_effect: default_effect(),
            isolation: Isolation::default(),
            max_uses: default_max_uses(),
            layers: Vec::new(),
        }
    }
}

impl CompositionSpec {
    /// Parses a settings document from JSON; errors name the field.
    pub fn from_json(text: &str) -> Result<Self, InputError> {
        parse_json("settings", text)
    }
}

/// One pack in a composition with its resolved settings.
struct Slot {
    pack: Arc<Pack>,
    version: String,
    effective: Arc<Vec<EffectiveRule>>,
    settings: Vec<wit::RuleSettings>,
    pool: Option<InstancePool>,
    breaker: Option<Arc<Breaker>>,
}

/// A tenant's packs, resolved and ready to evaluate. Thread-safe: share it
/// with `Arc` and evaluate from many threads at once.
pub struct Composition {
    tenant: String,
    default_effect: Verdict,
    isolation: Isolation,
    layers: Arc<Vec<String>>,
    slots: Vec<Slot>,
}

impl std::fmt::Debug for Composition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Composition")
            .field("tenant", &self.tenant)
            .field("isolation", &self.isolation)
            .field(
                "packs",
                &self.slots.iter().map(|s| s.pack.name()).collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Composition {
    /// Builds a tenant's composition: resolves every rule's settings through
    /// the layers, rejects restrict-only layers that loosen, and asks each
    /// pack to check its parameters.
    pub fn build(
        tenant: impl Into<String>,
        packs: Vec<Arc<Pack>>,
        spec: &CompositionSpec,
    ) -> Result<Composition, ComposeError> {
        if packs.is_empty() {
            return Err(ComposeError::NoPacks);
        }
        for (i, p) in packs.iter().enumerate() {
            if packs[..i].iter().any(|q| q.name() == p.name()) {
                return Err(ComposeError::DuplicatePack(p.name().to_owned()));
            }
        }
        for (i, l) in spec.layers.iter().enumerate() {
            if l.name == layers::DEFAULTS || spec.layers[..i].iter().any(|m| m.name == l.name) {
                return Err(ComposeError::DuplicateLayer(l.name.clone()));
            }
            if let Some(unknown) = l
                .packs
                .keys()
                .find(|n| !packs.iter().any(|p| p.name() == *n))
            {
                return Err(ComposeError::UnknownPack {
                    layer: l.name.clone(),
                    pack: unknown.clone(),
                });
            }
        }
        let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
        let mut slots = Vec::with_capacity(packs.len());
        for pack in packs {
            let effective = layers::resolve(pack.info(), &spec.layers)?;
            let settings: Vec<wit::RuleSettings> = effective
                .iter()
                .map(|e| wit::RuleSettings {
                    rule: e.rule.clone(),
                    enabled: e.enabled,
                    params: Value::Object(e.params.clone()).to_string(),
                })
                .collect();
            match pack.check_settings(&settings) {
                Ok(Ok(())) => {}
                Ok(Err(message)) => {
                    return Err(ComposeError::BadParams {
                        pack: pack.name().to_owned(),
                        layer: blame(&effective, &message),
                        message,
                    });
                }
                Err(why) => {
                    return Err(ComposeError::CheckFailed {
                        pack: pack.name().to_owned(),
                        why,
                    });
                }
            }
            slots.push(Slot {
                version: pack.version().to_string(),
                pool: (spec.isolation == Isolation::Reuse).then(|| {
                    InstancePool::new(&pack.engine.sandbox.idle, workers * 2, spec.max_uses.max(1))
                }),
                pack,
                effective: Arc::new(effective),
                settings,
                breaker: None,
            });
        }
        Ok(Composition {
            tenant: tenant.into(),
            default_effect: spec.default_effect,
            isolation: spec.isolation,
            layers: Arc::new(spec.layers.iter().map(|l| l.name.clone()).collect()),
            slots,
        })
    }

    /// The tenant this composition belongs to.
    pub fn tenant(&self) -> &str {
        &self.tenant
    }

    /// The isolation mode.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// The packs, in order.
    pub fn packs(&self) -> impl Iterator<Item = &Arc<Pack>> {
        self.slots.iter().map(|s| &s.pack)
    }

    /// The effective settings of each pack's rules.
    pub fn settings(&self, pack: &str) -> Option<&[EffectiveRule]> {
        self.slots
            .iter()
            .find(|s| s.pack.name() == pack)
            .map(|s| s.effective.as_slice())
    }

    /// Idle pooled instances per pack (reuse mode), for monitoring.
    pub fn idle_instances(&self) -> Vec<(String, usize)> {
        self.slots
            .iter()
            .map(|s| {
                (
                    s.pack.name().to_owned(),
                    s.pool.as_ref().map_or(0, InstancePool::idle),
                )
            })
            .collect()
    }

    /// Evaluates a request. Never fails and never panics on pack misbehaviour:
    /// a pack that traps, loops, runs out of memory or returns garbage yields a
    /// deny finding that names the pack and the failure.
    pub fn evaluate(&self, req: &Request) -> Decision {
        self.evaluate_checked(req, req.validate())
    }

    /// [`Composition::evaluate`] of a request validated already (the
    /// control plane validates before admission, to answer 422 early).
    pub fn evaluate_valid(&self, req: &ValidRequest) -> Decision {
        self.evaluate_checked(req, Ok(()))
    }

    fn evaluate_checked(&self, req: &Request, valid: Result<(), crate::InputError>) -> Decision {
        let mut findings = Vec::new();
        let mut runs = Vec::with_capacity(self.slots.len());
        if req.tenant != self.tenant {
            findings.push(host_denial(
                "warden:tenant-mismatch",
                format!(
                    "request for tenant `{}` sent to the composition of tenant `{}`",
                    req.tenant, self.tenant
                ),
            ));
        } else if let Err(e) = valid {
            findings.push(host_denial("warden:invalid-request", e.to_string()));
        } else {
            let wit_req = req.to_wit();
            for slot in &self.slots {
                runs.push(self.run(slot, &wit_req, &mut findings));
            }
        }
        let (verdict, basis) = decide::combine(&findings, self.default_effect);
        Decision {
            request_id: req.id.clone(),
            tenant: req.tenant.clone(),
            verdict,
            routes: decide::routes(&findings, verdict),
            reason: decide::summary(&findings, verdict, basis),
            explanation: Explanation {
                basis,
                findings,
                packs: runs,
                layers: self.layers.clone(),
            },
        }
    }

    /// [`Composition::build`] on tokio's blocking threads: each pack checks
    /// its settings in wasm, which must not hold an async worker.
    #[cfg(feature = "tokio")]
    pub async fn build_async(
        tenant: impl Into<String>,
        packs: Vec<Arc<Pack>>,
        spec: CompositionSpec,
    ) -> Result<Composition, ComposeError> {
        let tenant = tenant.into();
        crate::blocking::off_runtime(move || Composition::build(tenant, packs, &spec))
            .await
            .map_err(ComposeError::Interrupted)?
    }

    /// Evaluates on the engine's evaluation pool ([`crate::EvalPool`]), so a
    /// slow pack never stalls the async runtime, and a tenant whose packs
    /// are slow waits behind its own share of the threads only. When the
    /// tenant's queue (or the pool's) is full the decision is a fail-closed
    /// deny naming that, at once.
    #[cfg(feature = "tokio")]
    pub async fn evaluate_async(self: &Arc<Self>, req: Request) -> Decision {
        let this = Arc::clone(self);
        let fallback = (req.id.clone(), req.tenant.clone());
        let pool = match self.slots.first() {
            Some(slot) => slot.pack.engine.pool(),
            None => Err(crate::Busy::Stopped),
        };
        let outcome = match pool {
            Ok(pool) => pool.run(&self.tenant, move || this.evaluate(&req)).await,
            Err(e) => Err(e),
        };
        outcome.unwrap_or_else(|busy| {
            let finding = host_denial(
                OVERLOADED_RULE,
                format!("the decision was not evaluated: {busy}"),
            );
            let findings = vec![finding];
            let (verdict, basis) = decide::combine(&findings, self.default_effect);
            Decision {
                request_id: fallback.0,
                tenant: fallback.1,
                verdict,
                routes: Vec::new(),
                reason: decide::summary(&findings, verdict, basis),
                explanation: Explanation {
                    basis,
                    findings,
                    packs: Vec::new(),
                    layers: self.layers.clone(),
                },
            }
        })
    }

    /// The same composition with a circuit breaker per pack, taken from
    /// `breakers` for this tenant (so its state outlasts rebuilds): a pack
    /// that keeps failing is quarantined as `config` says ([`Breakers`]).
    pub fn guarded(mut self, breakers: &Breakers, config: BreakerConfig) -> Composition {
        for slot in &mut self.slots {
            slot.breaker = Some(breakers.get(&self.tenant, &slot.pack, config));
        }
        self
    }

    fn run(&self, slot: &Slot, req: &wit::Request, findings: &mut Vec<FindingRecord>) -> PackRun {
        let started = Instant::now();
        if let Some(Admit::Refuse { left, reason }) =
            slot.breaker.as_ref().map(|b| b.admit(started))
        {
            let why = format!(
                "is quarantined for this tenant after repeated failures (last: it {reason}); it is tried again in {} s",
                left.as_secs() + u64::from(left.subsec_nanos() > 0)
            );
            findings.push(self.failure(slot, &why));
            return self.pack_run(
                slot,
                started,
                false,
                format!("{}{why}", decide::QUARANTINED_STATUS),
            );
        }
        let engine = &slot.pack.engine.sandbox;
        let pooled = slot.pool.as_ref().and_then(InstancePool::take);
        let reused = pooled.is_some();
        let outcome = match pooled {
            Some(live) => Ok(live),
            None => Live::new(engine, &slot.pack.pre),
        }
        .and_then(|mut live| {
            let r = live.evaluate(engine, req, &slot.settings);
            r.map(|r| (live, r))
        });
        if let Some(b) = &slot.breaker {
            // Deadline, memory and traps count toward quarantine; an
            // instance the pool could not provide is not the pack's doing.
            let counted = match &outcome {
                Err(f @ (CallFailure::Deadline | CallFailure::Memory | CallFailure::Trap(_))) => {
                    Some(f.to_string())
                }
                _ => None,
            };
            b.record(Instant::now(), counted.as_deref());
        }
        let status = match outcome {
            Err(failure) => Err(failure.to_string()),
            Ok((_, Err(message))) => Err(format!("returned an error: {message}")),
            Ok((live, Ok(raw))) => match self.accept(slot, raw, findings) {
                Ok(()) => {
                    if let Some(pool) = &slot.pool {
                        pool.give_back(live);
                    }
                    Ok(())
                }
                Err(why) => Err(why),
            },
        };
        let status = match status {
            Ok(()) => "ok".to_owned(),
            Err(why) => {
                findings.push(self.failure(slot, &why));
                why
            }
        };
        self.pack_run(slot, started, reused, status)
    }

    fn pack_run(&self, slot: &Slot, started: Instant, reused: bool, status: String) -> PackRun {
        PackRun {
            pack: slot.pack.name().to_owned(),
            version: slot.version.clone(),
            digest: slot.pack.digest().to_owned(),
            status,
            elapsed_ns: u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX),
            reused_instance: reused,
            settings: slot.effective.clone(),
        }
    }

    /// Validates a pack's findings and applies verdict overrides. On any
    /// contract violation nothing from the pack is kept.
    fn accept(
        &self,
        slot: &Slot,
        raw: Vec<wit::Finding>,
        findings: &mut Vec<FindingRecord>,
    ) -> Result<(), String> {
        let limits = &slot.pack.engine.config;
        if raw.len() > limits.max_findings {
            return Err(format!(
                "returned {} findings, more than the limit of {}",
                raw.len(),
                limits.max_findings
            ));
        }
        let start = findings.len();
        for f in raw {
            let Some(eff) = slot.effective.iter().find(|e| e.rule == f.rule) else {
                findings.truncate(start);
                return Err(format!(
                    "returned a finding for rule `{}`, which it does not declare",
                    truncate(&f.rule, 64)
                ));
            };
            if !eff.enabled {
                findings.truncate(start);
                return Err(format!(
                    "returned a finding for rule `{}`, which is disabled",
                    f.rule
                ));
            }
            let too_long = f.reason.len() > limits.max_reason_bytes
                || f.route
                    .as_ref()
                    .is_some_and(|r| r.len() > limits.max_reason_bytes);
            if too_long {
                findings.truncate(start);
                return Err(format!(
                    "returned a finding for rule `{}` longer than the limit of {} bytes",
                    f.rule, limits.max_reason_bytes
                ));
            }
            let pack_verdict = match f.verdict {
                wit::Verdict::Allow => Verdict::Allow,
                wit::Verdict::Deny => Verdict::Deny,
                wit::Verdict::Escalate => Verdict::Escalate,
            };
            let (verdict, replaced) = match eff.verdict {
                Some(v) if pack_verdict != Verdict::Allow && v != pack_verdict => (v, true),
                _ => (pack_verdict, false),
            };
            findings.push(FindingRecord {
                pack: slot.pack.name().to_owned(),
                version: slot.version.clone(),
                digest: slot.pack.digest().to_owned(),
                rule: f.rule,
                verdict,
                pack_verdict: replaced.then_some(pack_verdict),
                verdict_by: if replaced {
                    eff.verdict_by.clone()
                } else {
                    None
                },
                reason: f.reason,
                route: f.route,
                fail_closed: false,
            });
        }
        Ok(())
    }

    fn failure(&self, slot: &Slot, why: &str) -> FindingRecord {
        FindingRecord {
            pack: slot.pack.name().to_owned(),
            version: slot.version.clone(),
            digest: slot.pack.digest().to_owned(),
            rule: PACK_FAILURE_RULE.to_owned(),
            verdict: Verdict::Deny,
            pack_verdict: None,
            verdict_by: None,
            reason: format!(
                "pack `{}@{}` {why}; failing closed",
                slot.pack.name(),
                slot.version
            ),
            route: None,
            fail_closed: true,
        }
    }
}

/// A deny finding made by the host itself, before any pack ran.
fn host_denial(rule: &str, reason: String) -> FindingRecord {
    FindingRecord {
        pack: "warden".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        digest: String::new(),
        rule: rule.to_owned(),
        verdict: Verdict::Deny,
        pack_verdict: None,
        verdict_by: None,
        reason,
        route: None,
        fail_closed: true,
    }
}

/// The layer to blame for a parameter error: the one that set the parameter
/// the pack's message names (`parameter `max``), else `defaults`.
fn blame(effective: &[EffectiveRule], message: &str) -> String {
    for e in effective {
        if !message.contains(&format!("`{}`", e.rule)) {
            continue;
        }
        for (param, source) in &e.param_sources {
            if message.contains(&format!("parameter `{param}")) {
                return source.clone();
            }
        }
    }
    layers::DEFAULTS.to_owned()
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}
