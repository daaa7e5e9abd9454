//! The benchmark's rules in Rego (`regorus`), with the input handling and
//! verdict reading the comparison needs.

use warden_host::Verdict;

/// The same rules in Rego. Rego has functions and data, so the rule
/// parameters are data and tool patterns are matched with `glob.match`;
/// normalisation happens in the policy. Findings carry a reason, as warden's
/// do.
pub const REGO: &str = r#"
package warden

payment_tools := ["payments.*", "treasury.*", "*.pay*", "*.transfer*", "*.refund*"]
max_amount := {"EUR": 1000000, "USD": 1000000, "GBP": 800000, "CHF": 1000000}
threshold := {"EUR": 100000, "USD": 100000, "GBP": 80000, "CHF": 100000}
currencies := {"EUR", "USD", "GBP", "CHF"}
blocked := ["evil corp", "*sanctioned*"]
exempt_tools := ["*.refund*"]
allow_external := ["http.get", "search.*"]
untrusted_tags := {"untrusted-input", "untrusted"}
untrusted_classes := {"write", "destructive", "financial", "external"}

action := input.action

is_payment if action.safety_class == "financial"

is_payment if {
	action.safety_class != "read-only"
	some p in payment_tools
	glob.match(p, null, action.tool)
}

currency := upper(trim_space(action.amount.currency))

magnitude := abs(action.amount.minor_units)

counterparty := c if {
	words := [w | some w in split(trim_space(action.counterparty), " "); w != ""]
	c := lower(concat(" ", words))
	c != ""
}

deny contains {"rule": "amount-limit", "reason": sprintf("%d %s exceeds the limit of %d %s", [magnitude, currency, limit, currency])} if {
	is_payment
	limit := max_amount[currency]
	magnitude > limit
}

escalate contains {"rule": "amount-limit", "route": "finance", "reason": sprintf("no limit is configured for %s", [currency])} if {
	is_payment
	action.amount
	not max_amount[currency]
}

escalate contains {"rule": "approval-threshold", "route": "finance", "reason": sprintf("%d %s is above the approval threshold of %d %s", [magnitude, currency, t, currency])} if {
	is_payment
	t := threshold[currency]
	magnitude > t
}

deny contains {"rule": "counterparty-blocklist", "reason": sprintf("counterparty `%s` is blocked (`%s`)", [counterparty, p])} if {
	is_payment
	some p in blocked
	glob.match(p, null, counterparty)
}

deny contains {"rule": "currency-allowlist", "reason": sprintf("currency `%s` is not allowed", [currency])} if {
	is_payment
	action.amount
	not currencies[currency]
}

deny contains {"rule": "non-positive-amount", "reason": sprintf("`%s` is a payment but carries no amount", [action.tool])} if {
	is_payment
	not action.amount
}

deny contains {"rule": "non-positive-amount", "reason": sprintf("the amount %d is not positive", [action.amount.minor_units])} if {
	is_payment
	action.amount.minor_units <= 0
	not exempt_tool
}

exempt_tool if {
	some p in exempt_tools
	glob.match(p, null, action.tool)
}

deny contains {"rule": "external-tool-allowlist", "reason": sprintf("external tool `%s` is not on the external tool allowlist", [action.tool])} if {
	action.safety_class == "external"
	not allowed_external
}

allowed_external if {
	some p in allow_external
	glob.match(p, null, action.tool)
}

escalate contains {"rule": "escalate-destructive", "route": "security", "reason": sprintf("`%s` is destructive; a human must approve it", [action.tool])} if {
	action.safety_class == "destructive"
}

deny contains {"rule": "untrusted-input", "reason": sprintf("`%s` carries untrusted input (tag `%s`)", [action.tool, t])} if {
	untrusted_classes[action.safety_class]
	some t in action.tags
	untrusted_tags[lower(t)]
}

default verdict := "allow"

verdict := "deny" if count(deny) > 0

verdict := "escalate" if {
	count(deny) == 0
	count(escalate) > 0
}

decision := {"verdict": verdict, "deny": deny, "escalate": escalate}
"#;

pub const REGO_RULE: &str = "data.warden.decision";

pub fn rego_engine() -> regorus::Engine {
    let mut engine = regorus::Engine::new();
    engine
        .add_policy("warden.rego".to_owned(), REGO.to_owned())
        .expect("rego policy");
    engine
}

pub fn rego_verdict(decision: &regorus::Value) -> Verdict {
    match decision["verdict"].as_string().map(|s| s.as_ref()) {
        Ok("allow") => Verdict::Allow,
        Ok("escalate") => Verdict::Escalate,
        _ => Verdict::Deny,
    }
}

pub fn rego_decide_json(engine: &mut regorus::Engine, json: &str) -> Verdict {
    engine.set_input_json(json).expect("input");
    rego_verdict(&engine.eval_rule(REGO_RULE.to_owned()).expect("eval"))
}

pub fn rego_decide(engine: &mut regorus::Engine, input: &regorus::Value) -> Verdict {
    engine.set_input(input.clone());
    rego_verdict(&engine.eval_rule(REGO_RULE.to_owned()).expect("eval"))
}
