use serde::{Deserialize, Serialize};
use warden_sdk::{Outcome, Request, Rule, Strictness, tool_matches};

/// Escalate deploys to production; deny them when the change is unreviewed.
#[derive(Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProdDeploys {
    /// Tools that deploy (glob patterns).
    pub tools: Vec<String>,
    /// Deny instead of escalating when `args.reviewed` is not `true`.
    pub require_review: bool,
}

impl Default for ProdDeploys {
    fn default() -> Self {
        ProdDeploys {
            tools: vec!["deploy.*".into()],
            require_review: true,
        }
    }
}

impl Rule for ProdDeploys {
    const ID: &'static str = "prod-deploys";
    const SUMMARY: &'static str = "Escalate production deploys; deny unreviewed ones";
    // A restrict-only layer may add tools and turn review on, never the reverse.
    const STRICTNESS: &'static [(&'static str, Strictness)] = &[
        ("tools", Strictness::Superset),
        ("require_review", Strictness::WhenTrue),
    ];

    fn check(&self, req: &Request) -> Outcome {
        if !tool_matches(&self.tools, &req.action.tool)
            || req.action.arg("/env").and_then(|v| v.as_str()) != Some("prod")
        {
            return Outcome::Pass;
        }
        let reviewed = req.action.arg("/reviewed").and_then(|v| v.as_bool()) == Some(true);
        if self.require_review && !reviewed {
            Outcome::deny(format!("`{}` to prod without review", req.action.tool))
        } else {
            Outcome::escalate("production deploy").route("release-managers")
        }
    }
}

warden_sdk::pack! {
    name: "no-friday-deploys",
    summary: "Guard production deploys",
    rules: [ProdDeploys],
}

#[cfg(test)]
mod tests {
    use super::*;
    use warden_sdk::serde_json::json;
    use warden_sdk::{SafetyClass, Verdict, testing::RequestBuilder};

    #[test]
    fn unreviewed_prod_deploys_are_denied() {
        let req = RequestBuilder::new("deploy.service", SafetyClass::Write)
            .args(json!({"env": "prod"}))
            .build();
        let findings = PACK.evaluate_defaults(&req).unwrap();
        assert_eq!(findings[0].verdict, Verdict::Deny);
    }
}
