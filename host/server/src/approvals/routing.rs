//! Routing: which escalation policy an escalated decision goes to. The
//! rules are tried in order; the first whose every given condition holds
//! picks its policy; none matching, the document's default applies.

use crate::approvals::glob::any_matches;
use crate::approvals::policy::{ApprovalPolicy, EscalationPolicy, Match};
use warden_host::Request;

/// Where an escalation was routed.
#[derive(Debug, Clone, PartialEq)]
pub struct Routed<'a> {
    /// The matching rule's name; `None` when the default applied.
    pub rule: Option<&'a str>,
    /// The escalation policy's name.
    pub policy_name: &'a str,
    /// The escalation policy.
    pub policy: &'a EscalationPolicy,
}

impl Match {
    /// Whether `req`, escalated with the packs' route hints `routes`, matches.
    pub fn holds(&self, req: &Request, routes: &[String]) -> bool {
        let a = &req.action;
        (self.safety_class.is_empty() || self.safety_class.contains(&a.safety_class))
            && self.amount.as_ref().is_none_or(|r| {
                a.amount.as_ref().is_some_and(|m| {
                    m.currency == r.currency
                        && r.min_minor_units.is_none_or(|lo| m.minor_units >= lo)
                        && r.max_minor_units.is_none_or(|hi| m.minor_units <= hi)
                })
            })
            && (self.counterparty.is_empty()
                || a.counterparty
                    .as_deref()
                    .is_some_and(|c| any_matches(&self.counterparty, c)))
            && (self.tool.is_empty() || any_matches(&self.tool, &a.tool))
            && self.tags.iter().all(|t| a.tags.contains(t))
            && (self.agent.is_empty() || any_matches(&self.agent, &req.principal.agent))
            && (self.route.is_empty() || routes.iter().any(|r| any_matches(&self.route, r)))
    }
}

impl ApprovalPolicy {
    /// The escalation policy for `req`, escalated with route hints `routes`;
    /// `None` only if the document names a default it does not hold (a
    /// document that validated never does).
    pub fn route<'a>(&'a self, req: &Request, routes: &[String]) -> Option<Routed<'a>> {
        let (rule, name) = match self.routes.iter().find(|r| r.when.holds(req, routes)) {
            Some(r) => (Some(r.name.as_str()), r.policy.as_str()),
            None => (None, self.default_policy.as_str()),
        };
        let (policy_name, policy) = self.policies.get_key_value(name)?;
        Some(Routed {
            rule,
            policy_name,
            policy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request(v: serde_json::Value) -> Request {
        let mut base = json!({
            "id": "r", "tenant": "t",
            "principal": {"agent": "billing-bot"},
            "action": {"tool": "payments.pay", "safety_class": "financial",
                       "amount": {"minor_units": 450000, "currency": "EUR"},
                       "counterparty": "ACME GmbH", "tags": ["vendor", "eu"]}
        });
        if let (Some(b), Some(a)) = (base["action"].as_object_mut(), v.as_object()) {
            for (k, x) in a {
                b.insert(k.clone(), x.clone());
            }
        }
        serde_json::from_value(base).unwrap()
    }

    fn holds(m: serde_json::Value, req: &Request, routes: &[&str]) -> bool {
        let m: Match = serde_json::from_value(m).unwrap();
        let routes: Vec<String> = routes.iter().map(|r| (*r).to_owned()).collect();
        m.holds(req, &routes)
    }

    #[test]
    fn each_field_matches_and_fails_on_its_own() {
        let req = request(json!({}));
        let cases = [
            (json!({}), true),
            (json!({"safety_class": ["financial", "write"]}), true),
            (json!({"safety_class": ["write"]}), false),
            (
                json!({"amount": {"currency": "EUR", "min_minor_units": 450000}}),
                true,
            ),
            (
                json!({"amount": {"currency": "EUR", "max_minor_units": 449999}}),
                false,
            ),
            (
                json!({"amount": {"currency": "EUR", "min_minor_units": 1, "max_minor_units": 450000}}),
                true,
            ),
            (json!({"amount": {"currency": "USD"}}), false),
            (json!({"counterparty": ["ACME GmbH"]}), true),
            (json!({"counterparty": ["acme gmbh"]}), false),
            (json!({"counterparty": ["Other", "ACME*"]}), true),
            (json!({"tool": ["payments.*"]}), true),
            (json!({"tool": ["payments"]}), false),
            (json!({"tags": ["vendor"]}), true),
            (json!({"tags": ["vendor", "us"]}), false),
            (json!({"agent": ["billing-?ot"]}), true),
            (json!({"agent": ["support-*"]}), false),
            (json!({"route": ["fin*"]}), true),
            (json!({"route": ["legal"]}), false),
            (json!({"tool": ["payments.*"], "route": ["legal"]}), false),
        ];
        for (m, expect) in cases {
            assert_eq!(holds(m.clone(), &req, &["finance"]), expect, "{m}");
        }
    }

    #[test]
    fn missing_request_fields_do_not_match_conditions_on_them() {
        let req = request(json!({"amount": null, "counterparty": null}));
        assert!(!holds(json!({"amount": {"currency": "EUR"}}), &req, &[]));
        assert!(!holds(json!({"counterparty": ["*"]}), &req, &[]));
        assert!(!holds(json!({"route": ["*"]}), &req, &[]));
    }

    #[test]
    fn the_first_matching_rule_wins_and_the_default_catches_the_rest() {
        let step = json!({"steps": [{"approvers": [{"user": "a"}], "sla": "1h"}]});
        let doc: ApprovalPolicy = serde_json::from_value(json!({
            "routes": [
                {"name": "big", "match": {"amount": {"currency": "EUR", "min_minor_units": 100000}}, "policy": "cfo"},
                {"name": "eur", "match": {"amount": {"currency": "EUR"}}, "policy": "clerk"}
            ],
            "default_policy": "clerk",
            "policies": {"cfo": step, "clerk": step}
        }))
        .unwrap();
        doc.validate().unwrap();
        let r = doc.route(&request(json!({})), &[]).unwrap();
        assert_eq!((r.rule, r.policy_name), (Some("big"), "cfo"));
        let small = request(json!({"amount": {"minor_units": 5, "currency": "EUR"}}));
        let r = doc.route(&small, &[]).unwrap();
        assert_eq!((r.rule, r.policy_name), (Some("eur"), "clerk"));
        let usd = request(json!({"amount": {"minor_units": 5, "currency": "USD"}}));
        let r = doc.route(&usd, &[]).unwrap();
        assert_eq!((r.rule, r.policy_name), (None, "clerk"));
    }
}
