//! Native test support: build requests in plain Rust and run rules without
//! WebAssembly (`cargo test` in a pack crate).

use crate::types::{Action, Money, Principal, Request, RuleSettings, SafetyClass};
use serde_json::Value;

/// Builds a [`Request`] for tests. Starts as a `read-only` call of tool
/// `test.tool` by agent `test-agent` of tenant `test`, with `{}` as args.
#[derive(Debug, Clone)]
pub struct RequestBuilder {
    req: Request,
}

impl Default for RequestBuilder {
    fn default() -> Self {
        RequestBuilder {
            req: Request {
                id: "test-request".to_owned(),
                tenant: "test".to_owned(),
                principal: Principal {
                    agent: "test-agent".to_owned(),
                    on_behalf_of: None,
                    roles: Vec::new(),
                },
                action: Action::new("test.tool", SafetyClass::ReadOnly, "{}".to_owned()),
                context: "{}".to_owned(),
            },
        }
    }
}

impl RequestBuilder {
    /// A builder for a call of `tool` with the given safety class.
    pub fn new(tool: &str, class: SafetyClass) -> Self {
        RequestBuilder::default().tool(tool).class(class)
    }

    /// Sets the tool name.
    pub fn tool(mut self, tool: &str) -> Self {
        self.req.action.tool = tool.to_owned();
        self
    }

    /// Sets the safety class.
    pub fn class(mut self, class: SafetyClass) -> Self {
        self.req.action.safety_class = class;
        self
    }

    /// Sets the amount, in minor units.
    pub fn amount(mut self, minor_units: i64, currency: &str) -> Self {
        self.req.action.amount = Some(Money::new(minor_units, currency));
        self
    }

    /// Sets the counterparty.
    pub fn counterparty(mut self, counterparty: &str) -> Self {
        self.req.action.counterparty = Some(counterparty.to_owned());
        self
    }

    /// Adds a tag.
    pub fn tag(mut self, tag: &str) -> Self {
        self.req.action.tags.push(tag.to_owned());
        self
    }

    /// Sets the JSON arguments.
    pub fn args(self, args: Value) -> Self {
        self.args_text(&args.to_string())
    }

    /// Sets the arguments as raw text (which need not be valid JSON).
    pub fn args_text(mut self, text: &str) -> Self {
        let mut action = Action::new(
            std::mem::take(&mut self.req.action.tool),
            self.req.action.safety_class,
            text.to_owned(),
        );
        action.amount = self.req.action.amount.take();
        action.counterparty = self.req.action.counterparty.take();
        action.tags = std::mem::take(&mut self.req.action.tags);
        self.req.action = action;
        self
    }

    /// Sets the agent.
    pub fn agent(mut self, agent: &str) -> Self {
        self.req.principal.agent = agent.to_owned();
        self
    }

    /// Adds a role to the principal.
    pub fn role(mut self, role: &str) -> Self {
        self.req.principal.roles.push(role.to_owned());
        self
    }

    /// Sets the JSON context.
    pub fn context(mut self, context: Value) -> Self {
        self.req.context = context.to_string();
        self
    }

    /// The request.
    pub fn build(self) -> Request {
        self.req
    }
}

/// Settings for one rule: enabled, with the given parameters (JSON object).
pub fn settings(rule: &str, params: Value) -> RuleSettings {
    RuleSettings {
        rule: rule.to_owned(),
        enabled: true,
        params: params.to_string(),
    }
}

/// Settings that disable one rule.
pub fn disabled(rule: &str) -> RuleSettings {
    RuleSettings {
        rule: rule.to_owned(),
        enabled: false,
        params: "{}".to_owned(),
    }
}
