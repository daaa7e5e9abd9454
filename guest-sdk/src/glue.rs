//! Conversion between the generated WIT types and the SDK's plain types.

#[doc(hidden)]
pub mod __glue {
    use crate::__bindings::warden::policy::types as wit;
    use crate::pack::PackDef;
    use crate::types::{
        Action, Finding, Money, Principal, Request, RuleSettings, SafetyClass, Strictness, Verdict,
    };

    /// `info` export.
    pub fn info(pack: &PackDef) -> wit::PackInfo {
        let info = pack.info();
        wit::PackInfo {
            name: info.name,
            version: info.version,
            summary: info.summary,
            rules: info
                .rules
                .into_iter()
                .map(|r| wit::RuleInfo {
                    id: r.id,
                    summary: r.summary,
                    default_enabled: r.default_enabled,
                    default_params: r.default_params,
                    strictness: r
                        .strictness
                        .into_iter()
                        .map(|(param, s)| wit::ParamStrictness {
                            param,
                            stricter: strictness(s),
                        })
                        .collect(),
                })
                .collect(),
        }
    }

    /// `check-settings` export.
    pub fn check_settings(pack: &PackDef, settings: Vec<wit::RuleSettings>) -> Result<(), String> {
        pack.check_settings(&settings.into_iter().map(rule_settings).collect::<Vec<_>>())
    }

    /// `evaluate` export.
    pub fn evaluate(
        pack: &PackDef,
        req: wit::Request,
        settings: Vec<wit::RuleSettings>,
    ) -> Result<Vec<wit::Finding>, String> {
        let settings: Vec<RuleSettings> = settings.into_iter().map(rule_settings).collect();
        let findings = pack.evaluate(&request(req), &settings)?;
        Ok(findings.into_iter().map(finding).collect())
    }

    fn rule_settings(s: wit::RuleSettings) -> RuleSettings {
        RuleSettings {
            rule: s.rule,
            enabled: s.enabled,
            params: s.params,
        }
    }

    fn request(r: wit::Request) -> Request {
        let a = r.action;
        let mut action = Action::new(a.tool, safety_class(a.safety_class), a.args);
        action.amount = a.amount.map(|m| Money {
            minor_units: m.minor_units,
            currency: m.currency,
        });
        action.counterparty = a.counterparty;
        action.tags = a.tags;
        Request {
            id: r.id,
            tenant: r.tenant,
            principal: Principal {
                agent: r.principal.agent,
                on_behalf_of: r.principal.on_behalf_of,
                roles: r.principal.roles,
            },
            action,
            context: r.context,
        }
    }

    fn safety_class(c: wit::SafetyClass) -> SafetyClass {
        match c {
            wit::SafetyClass::ReadOnly => SafetyClass::ReadOnly,
            wit::SafetyClass::Write => SafetyClass::Write,
            wit::SafetyClass::Financial => SafetyClass::Financial,
            wit::SafetyClass::Destructive => SafetyClass::Destructive,
            wit::SafetyClass::External => SafetyClass::External,
        }
    }

    fn strictness(s: Strictness) -> wit::Strictness {
        match s {
            Strictness::Lower => wit::Strictness::LowerValue,
            Strictness::Higher => wit::Strictness::HigherValue,
            Strictness::Superset => wit::Strictness::Superset,
            Strictness::Subset => wit::Strictness::Subset,
            Strictness::WhenTrue => wit::Strictness::WhenTrue,
            Strictness::WhenFalse => wit::Strictness::WhenFalse,
        }
    }

    fn finding(f: Finding) -> wit::Finding {
        wit::Finding {
            rule: f.rule,
            verdict: match f.verdict {
                Verdict::Allow => wit::Verdict::Allow,
                Verdict::Deny => wit::Verdict::Deny,
                Verdict::Escalate => wit::Verdict::Escalate,
            },
            reason: f.reason,
            route: f.route,
        }
    }
}
