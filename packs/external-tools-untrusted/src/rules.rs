//! The tool-level rules: which external tools may run, destructive actions
//! need a human, and untrusted input may not drive side effects. The URL
//! rule lives in [`crate::url_rule`].

use serde::{Deserialize, Serialize};
use warden_sdk::{Outcome, Request, Rule, SafetyClass, Strictness, tool_matches};

/// `external-tool-allowlist`: deny `external` tools whose name matches none
/// of `allow_tools` (glob patterns, `*` and `?`, case-sensitive like tool
/// names). Default: `http.get` and `search.*`, read-style calls whose
/// destinations `url-domain-allowlist` still checks. An empty list denies
/// every external tool.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExternalToolAllowlist {
    /// Glob patterns of the external tools that may run.
    pub allow_tools: Vec<String>,
}

impl Default for ExternalToolAllowlist {
    fn default() -> Self {
        ExternalToolAllowlist {
            allow_tools: vec!["http.get".to_owned(), "search.*".to_owned()],
        }
    }
}

impl Rule for ExternalToolAllowlist {
    const ID: &'static str = "external-tool-allowlist";
    const SUMMARY: &'static str = "Deny external tools that are not on an allowlist";
    const STRICTNESS: &'static [(&'static str, Strictness)] =
        &[("allow_tools", Strictness::Subset)];

    fn check(&self, req: &Request) -> Outcome {
        let tool = &req.action.tool;
        if req.action.safety_class != SafetyClass::External || tool_matches(&self.allow_tools, tool)
        {
            return Outcome::Pass;
        }
        let allowed = if self.allow_tools.is_empty() {
            "the allowlist is empty, so no external tool may run".to_owned()
        } else {
            format!("allowed: {}", list(&self.allow_tools))
        };
        Outcome::deny(format!(
            "external tool `{}` is not on the external tool allowlist ({allowed})",
            show(tool)
        ))
    }
}

/// `escalate-destructive`: a human must approve `destructive` actions,
/// except tools matching `exempt_tools`. The escalation is routed to
/// `route` (no route when empty).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EscalateDestructive {
    /// Who approves (`security`).
    pub route: String,
    /// Glob patterns of destructive tools that need no approval.
    pub exempt_tools: Vec<String>,
}

impl Default for EscalateDestructive {
    fn default() -> Self {
        EscalateDestructive {
            route: "security".to_owned(),
            exempt_tools: Vec::new(),
        }
    }
}

impl Rule for EscalateDestructive {
    const ID: &'static str = "escalate-destructive";
    const SUMMARY: &'static str = "A human must approve destructive actions";
    const STRICTNESS: &'static [(&'static str, Strictness)] =
        &[("exempt_tools", Strictness::Subset)];

    fn check(&self, req: &Request) -> Outcome {
        let tool = &req.action.tool;
        if req.action.safety_class != SafetyClass::Destructive
            || tool_matches(&self.exempt_tools, tool)
        {
            return Outcome::Pass;
        }
        let outcome = Outcome::escalate(format!(
            "`{}` is destructive (deletes or irreversibly changes data); a human must approve it",
            show(tool)
        ));
        if self.route.is_empty() {
            outcome
        } else {
            outcome.route(&self.route)
        }
    }
}

/// `untrusted-input`: deny actions of the listed safety classes when the
/// request carries one of the `tags` saying its input is untrusted (a web
/// page, an inbound email, a document the agent read), since that input may
/// carry injected instructions.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UntrustedInput {
    /// Tags that mark untrusted input (ASCII case-insensitive).
    pub tags: Vec<String>,
    /// Safety classes untrusted input may not drive.
    pub classes: Vec<SafetyClass>,
}

impl Default for UntrustedInput {
    fn default() -> Self {
        UntrustedInput {
            tags: vec!["untrusted-input".to_owned(), "untrusted".to_owned()],
            classes: vec![
                SafetyClass::Write,
                SafetyClass::Destructive,
                SafetyClass::Financial,
                SafetyClass::External,
            ],
        }
    }
}

impl Rule for UntrustedInput {
    const ID: &'static str = "untrusted-input";
    const SUMMARY: &'static str = "Deny side effects driven by untrusted input";
    const STRICTNESS: &'static [(&'static str, Strictness)] = &[
        ("tags", Strictness::Superset),
        ("classes", Strictness::Superset),
    ];

    fn check(&self, req: &Request) -> Outcome {
        let class = req.action.safety_class;
        if !self.classes.contains(&class) {
            return Outcome::Pass;
        }
        let Some(tag) = req
            .action
            .tags
            .iter()
            .find(|t| self.tags.iter().any(|w| w.eq_ignore_ascii_case(t)))
        else {
            return Outcome::Pass;
        };
        Outcome::deny(format!(
            "`{}` is {} {} action and the request carries untrusted input (tag `{}`); \
             untrusted input may not drive {} actions",
            show(&req.action.tool),
            if class == SafetyClass::External {
                "an"
            } else {
                "a"
            },
            class.as_str(),
            show(tag),
            classes(&self.classes)
        ))
    }
}

/// Text from the request made safe and short for a reason: control and
/// non-ASCII characters escaped (so homographs show as `\u{430}`), at most
/// 120 characters.
pub fn show(text: &str) -> String {
    const MAX: usize = 120;
    let mut out = String::with_capacity(text.len().min(MAX) + 4);
    for (count, c) in text.chars().enumerate() {
        if count == MAX {
            out.push('…');
            break;
        }
        if c.is_ascii_graphic() || c == ' ' {
            out.push(c);
        } else {
            out.extend(c.escape_default());
        }
    }
    out
}

/// `a`, `b`, `c` (at most eight, then `…`).
pub fn list<S: AsRef<str>>(items: &[S]) -> String {
    let mut out = String::new();
    for (i, item) in items.iter().enumerate() {
        if i == 8 {
            out.push_str(", …");
            break;
        }
        if i > 0 {
            out.push_str(", ");
        }
        out.push('`');
        out.push_str(&show(item.as_ref()));
        out.push('`');
    }
    out
}

/// `write, destructive and external`.
pub fn classes(classes: &[SafetyClass]) -> String {
    let names: Vec<&str> = classes.iter().map(|c| c.as_str()).collect();
    match names.split_last() {
        None => String::new(),
        Some((last, [])) => (*last).to_owned(),
        Some((last, init)) => format!("{} or {last}", init.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn show_escapes_and_truncates() {
        assert_eq!(show("p\u{430}ypal.com"), "p\\u{430}ypal.com");
        assert_eq!(show("a\nb"), "a\\nb");
        assert_eq!(show(&"x".repeat(200)).chars().count(), 121);
    }

    #[test]
    fn lists_read_naturally() {
        assert_eq!(list(&["a", "b"]), "`a`, `b`");
        assert_eq!(classes(&[SafetyClass::Write]), "write");
        assert_eq!(
            classes(&[
                SafetyClass::Write,
                SafetyClass::Financial,
                SafetyClass::External
            ]),
            "write, financial or external"
        );
    }
}
