//! The benchmark's rules as Cedar policies (`cedar-policy`), with the
//! request building and verdict reading the comparison needs.

use cedar_policy::{
    Authorizer, Context, Decision, Entities, Entity, EntityId, EntityTypeName, EntityUid,
    PolicySet, Request, RestrictedExpression,
};
use serde_json::Value;
use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use warden_host::Verdict;

/// Whether the request is a payment (treasury's default `tools`). Cedar
/// has no functions, so every treasury policy repeats it.
const IS_PAYMENT: &str = r#"(context.safety_class == "financial" || (context.safety_class != "read-only" && (context.tool like "payments.*" || context.tool like "treasury.*" || context.tool like "*.pay*" || context.tool like "*.transfer*" || context.tool like "*.refund*")))"#;

/// The treasury rules (with the benchmark blocklist) and the tool/tag
/// rules of external-tools-untrusted. Cedar has only permit and forbid:
/// everything is permitted (warden's default effect `allow`), every rule
/// is a `forbid` annotated with `@effect("deny")` or
/// `@effect("escalate")`, and a forbidden request is a deny when any
/// satisfied forbid says `deny`, else an escalation.
///
/// Normalisation that Cedar cannot express (trim/collapse/lower-case the
/// counterparty, upper-case the currency, lower-case tags) is done while
/// building the request, see [`build`].
const POLICIES: &str = r#"
@id("default-allow")
permit (principal, action, resource);

@id("amount-limit") @effect("deny")
forbid (principal, action, resource)
when { IS_PAYMENT && context has amount && (
  (context.amount.currency == "EUR" && (context.amount.minor_units > 1000000 || context.amount.minor_units < -1000000)) ||
  (context.amount.currency == "USD" && (context.amount.minor_units > 1000000 || context.amount.minor_units < -1000000)) ||
  (context.amount.currency == "GBP" && (context.amount.minor_units > 800000 || context.amount.minor_units < -800000)) ||
  (context.amount.currency == "CHF" && (context.amount.minor_units > 1000000 || context.amount.minor_units < -1000000))) };

@id("amount-limit/unknown-currency") @effect("escalate") @route("finance")
forbid (principal, action, resource)
when { IS_PAYMENT && context has amount && !(["EUR", "USD", "GBP", "CHF"].contains(context.amount.currency)) };

@id("approval-threshold") @effect("escalate") @route("finance")
forbid (principal, action, resource)
when { IS_PAYMENT && context has amount && (
  (context.amount.currency == "EUR" && (context.amount.minor_units > 100000 || context.amount.minor_units < -100000)) ||
  (context.amount.currency == "USD" && (context.amount.minor_units > 100000 || context.amount.minor_units < -100000)) ||
  (context.amount.currency == "GBP" && (context.amount.minor_units > 80000 || context.amount.minor_units < -80000)) ||
  (context.amount.currency == "CHF" && (context.amount.minor_units > 100000 || context.amount.minor_units < -100000))) };

@id("counterparty-blocklist") @effect("deny")
forbid (principal, action, resource)
when { IS_PAYMENT && context has counterparty && (context.counterparty == "evil corp" || context.counterparty like "*sanctioned*") };

@id("currency-allowlist") @effect("deny")
forbid (principal, action, resource)
when { IS_PAYMENT && context has amount && !(["EUR", "USD", "GBP", "CHF"].contains(context.amount.currency)) };

@id("non-positive-amount") @effect("deny")
forbid (principal, action, resource)
when { IS_PAYMENT && (!(context has amount) || (context.amount.minor_units <= 0 && !(context.tool like "*.refund*"))) };

@id("external-tool-allowlist") @effect("deny")
forbid (principal, action, resource)
when { context.safety_class == "external" && !(context.tool == "http.get" || context.tool like "search.*") };

@id("escalate-destructive") @effect("escalate") @route("security")
forbid (principal, action, resource)
when { context.safety_class == "destructive" };

@id("untrusted-input") @effect("deny")
forbid (principal, action, resource)
when { ["write", "destructive", "financial", "external"].contains(context.safety_class) && context.tags.containsAny(["untrusted-input", "untrusted"]) };
"#;

/// The parsed policies and the names requests are built from.
pub struct Peer {
    pub policies: PolicySet,
    authorizer: Authorizer,
    agent: EntityTypeName,
    tool: EntityTypeName,
    action: EntityUid,
}

impl Peer {
    pub fn new() -> Peer {
        let policies: PolicySet = POLICIES
            .replace("IS_PAYMENT", IS_PAYMENT)
            .parse()
            .expect("cedar policies");
        Peer {
            policies,
            authorizer: Authorizer::new(),
            agent: EntityTypeName::from_str("Agent").expect("type"),
            tool: EntityTypeName::from_str("Tool").expect("type"),
            action: EntityUid::from_str(r#"Action::"call""#).expect("action"),
        }
    }

    /// A Cedar request and its entities from a warden request's JSON:
    /// principal `Agent::"<agent>"` (an entity with `roles` and
    /// `on_behalf_of`), action `Action::"call"`, resource
    /// `Tool::"<tool>"`, and the fields the policies read in the context.
    pub fn build(&self, json: &str) -> (Request, Entities) {
        let doc: Value = serde_json::from_str(json).expect("json");
        self.build_value(&doc)
    }

    pub fn build_value(&self, doc: &Value) -> (Request, Entities) {
        let p = &doc["principal"];
        let a = &doc["action"];
        let agent = EntityUid::from_type_name_and_id(
            self.agent.clone(),
            EntityId::new(p["agent"].as_str().unwrap_or_default()),
        );
        let mut attrs = HashMap::with_capacity(2);
        let roles = p["roles"].as_array().map(Vec::as_slice).unwrap_or_default();
        attrs.insert(
            "roles".to_owned(),
            RestrictedExpression::new_set(
                roles
                    .iter()
                    .filter_map(Value::as_str)
                    .map(|r| RestrictedExpression::new_string(r.to_owned())),
            ),
        );
        if let Some(obo) = p["on_behalf_of"].as_str() {
            attrs.insert(
                "on_behalf_of".to_owned(),
                RestrictedExpression::new_string(obo.to_owned()),
            );
        }
        let principal = Entity::new(agent.clone(), attrs, HashSet::new()).expect("entity");
        let tool = a["tool"].as_str().unwrap_or_default();
        let resource = EntityUid::from_type_name_and_id(self.tool.clone(), EntityId::new(tool));
        let mut ctx = Vec::with_capacity(5);
        ctx.push((
            "tool".to_owned(),
            RestrictedExpression::new_string(tool.to_owned()),
        ));
        ctx.push((
            "safety_class".to_owned(),
            RestrictedExpression::new_string(
                a["safety_class"].as_str().unwrap_or_default().to_owned(),
            ),
        ));
        if let Some(m) = a.get("amount").filter(|m| m.is_object()) {
            let amount = RestrictedExpression::new_record([
                (
                    "minor_units".to_owned(),
                    RestrictedExpression::new_long(m["minor_units"].as_i64().unwrap_or(0)),
                ),
                (
                    "currency".to_owned(),
                    RestrictedExpression::new_string(
                        m["currency"]
                            .as_str()
                            .unwrap_or_default()
                            .trim()
                            .to_ascii_uppercase(),
                    ),
                ),
            ])
            .expect("record");
            ctx.push(("amount".to_owned(), amount));
        }
        if let Some(cp) = a["counterparty"].as_str() {
            let norm = cp
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
                .to_lowercase();
            if !norm.is_empty() {
                ctx.push((
                    "counterparty".to_owned(),
                    RestrictedExpression::new_string(norm),
                ));
            }
        }
        let tags = a["tags"].as_array().map(Vec::as_slice).unwrap_or_default();
        ctx.push((
            "tags".to_owned(),
            RestrictedExpression::new_set(
                tags.iter()
                    .filter_map(Value::as_str)
                    .map(|t| RestrictedExpression::new_string(t.to_ascii_lowercase())),
            ),
        ));
        let context = Context::from_pairs(ctx).expect("context");
        let request =
            Request::new(agent, self.action.clone(), resource, context, None).expect("request");
        let entities = Entities::from_entities([principal], None).expect("entities");
        (request, entities)
    }

    /// Authorizes and maps Cedar's answer to warden's verdicts.
    pub fn decide(&self, request: &Request, entities: &Entities) -> Verdict {
        let response = self
            .authorizer
            .is_authorized(request, &self.policies, entities);
        if response.diagnostics().errors().next().is_some() {
            return Verdict::Deny; // fail closed, like warden
        }
        match response.decision() {
            Decision::Allow => Verdict::Allow,
            Decision::Deny => {
                let mut verdict = Verdict::Deny;
                for id in response.diagnostics().reason() {
                    match self.policies.annotation(id, "effect") {
                        Some("deny") => return Verdict::Deny,
                        Some("escalate") => verdict = Verdict::Escalate,
                        _ => {}
                    }
                }
                verdict
            }
        }
    }
}
