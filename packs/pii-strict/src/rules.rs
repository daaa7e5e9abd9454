//! The pack's rules.
//!
//! The detector switches (`emails`, `phones`, `cards`, `ibans`, `ssns`) are
//! repeated as flat top-level fields in [`PiiExternal`] and [`PiiWrite`]
//! rather than nested in a shared struct: strictness is declared per
//! top-level parameter, and only flat booleans let a restrict-only layer
//! switch a detector back on (`WhenTrue`) while being refused switching it
//! off. The scanning code is shared (`walk::scan_args` over the
//! [`Kinds`] the switches select).

use crate::detect::{Kind, Kinds};
use crate::walk;
use serde::{Deserialize, Serialize};
use warden_sdk::{Outcome, Request, Rule, SafetyClass, Strictness, tool_matches};

/// The default route of escalations: the privacy team.
const PRIVACY: &str = "privacy";

/// The kinds selected by the five detector switches.
fn detectors(emails: bool, phones: bool, cards: bool, ibans: bool, ssns: bool) -> Kinds {
    Kinds::NONE
        .with(Kind::Email, emails)
        .with(Kind::Phone, phones)
        .with(Kind::Card, cards)
        .with(Kind::Iban, ibans)
        .with(Kind::Ssn, ssns)
}

/// Adds the route to an escalation unless it is empty.
fn routed(outcome: Outcome, route: &str) -> Outcome {
    if route.is_empty() {
        outcome
    } else {
        outcome.route(route)
    }
}

/// `pii-external`: deny personal data in the arguments of `external` tools.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PiiExternal {
    /// Detect e-mail addresses.
    pub emails: bool,
    /// Detect phone numbers.
    pub phones: bool,
    /// Detect payment card numbers.
    pub cards: bool,
    /// Detect IBANs.
    pub ibans: bool,
    /// Detect US social security numbers.
    pub ssns: bool,
    /// External tools (globs) that may receive personal data.
    pub allow_tools: Vec<String>,
}

impl Default for PiiExternal {
    fn default() -> Self {
        PiiExternal {
            emails: true,
            phones: true,
            cards: true,
            ibans: true,
            ssns: true,
            allow_tools: Vec::new(),
        }
    }
}

impl Rule for PiiExternal {
    const ID: &'static str = "pii-external";
    const SUMMARY: &'static str =
        "Deny e-mail addresses, phone numbers, card numbers, IBANs and SSNs in external tool calls";
    const STRICTNESS: &'static [(&'static str, Strictness)] = &[
        ("emails", Strictness::WhenTrue),
        ("phones", Strictness::WhenTrue),
        ("cards", Strictness::WhenTrue),
        ("ibans", Strictness::WhenTrue),
        ("ssns", Strictness::WhenTrue),
        ("allow_tools", Strictness::Subset),
    ];

    fn check(&self, req: &Request) -> Outcome {
        let action = &req.action;
        if action.safety_class != SafetyClass::External
            || tool_matches(&self.allow_tools, &action.tool)
        {
            return Outcome::Pass;
        }
        let kinds = detectors(self.emails, self.phones, self.cards, self.ibans, self.ssns);
        // Any PII denies: the first one found settles the verdict.
        let hits = walk::scan_args(action, kinds, Kinds::ALL);
        if hits.is_empty() {
            return Outcome::Pass;
        }
        Outcome::deny(format!(
            "external tool `{}` would receive {}",
            action.tool,
            walk::describe(&hits)
        ))
    }
}

/// `pii-write`: escalate personal data in the arguments of `write` tools;
/// deny card numbers outright.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PiiWrite {
    /// Detect e-mail addresses.
    pub emails: bool,
    /// Detect phone numbers.
    pub phones: bool,
    /// Detect payment card numbers.
    pub cards: bool,
    /// Detect IBANs.
    pub ibans: bool,
    /// Detect US social security numbers.
    pub ssns: bool,
    /// Deny (rather than escalate) when a card number is found: card numbers
    /// belong in the payment system only (PCI DSS), no approver can make
    /// storing them elsewhere right.
    pub cards_always_deny: bool,
    /// Who approves escalations; empty for no routing hint.
    pub route: String,
    /// Write tools (globs) that may store personal data (a CRM).
    pub allow_tools: Vec<String>,
}

impl Default for PiiWrite {
    fn default() -> Self {
        PiiWrite {
            emails: true,
            phones: true,
            cards: true,
            ibans: true,
            ssns: true,
            cards_always_deny: true,
            route: PRIVACY.to_owned(),
            allow_tools: Vec::new(),
        }
    }
}

impl Rule for PiiWrite {
    const ID: &'static str = "pii-write";
    const SUMMARY: &'static str =
        "Escalate personal data written by write tools; deny card numbers";
    const STRICTNESS: &'static [(&'static str, Strictness)] = &[
        ("emails", Strictness::WhenTrue),
        ("phones", Strictness::WhenTrue),
        ("cards", Strictness::WhenTrue),
        ("ibans", Strictness::WhenTrue),
        ("ssns", Strictness::WhenTrue),
        ("cards_always_deny", Strictness::WhenTrue),
        ("allow_tools", Strictness::Subset),
    ];

    fn check(&self, req: &Request) -> Outcome {
        let action = &req.action;
        if action.safety_class != SafetyClass::Write
            || tool_matches(&self.allow_tools, &action.tool)
        {
            return Outcome::Pass;
        }
        let kinds = detectors(self.emails, self.phones, self.cards, self.ibans, self.ssns);
        let card_denies = self.cards_always_deny && kinds.contains(Kind::Card);
        // Without the card rule any PII settles the escalation; with it, only
        // a card number settles the verdict (deny), so keep looking for one.
        let stop = if card_denies {
            Kinds::only(Kind::Card)
        } else {
            Kinds::ALL
        };
        let hits = walk::scan_args(action, kinds, stop);
        if hits.is_empty() {
            return Outcome::Pass;
        }
        if card_denies && let Some(card) = hits.iter().find(|h| h.kind == Kind::Card) {
            return Outcome::deny(format!(
                "write tool `{}` would store {}; card numbers are kept in the payment system only",
                action.tool,
                card.describe()
            ));
        }
        routed(
            Outcome::escalate(format!(
                "write tool `{}` would store {}",
                action.tool,
                walk::describe(&hits)
            )),
            &self.route,
        )
    }
}

/// `pii-tag`: trust the runtime's `pii` tag even when no detector fires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PiiTag {
    /// Tags (ASCII case-insensitive) that mark a request as carrying
    /// personal data.
    pub tags: Vec<String>,
    /// Who approves escalations; empty for no routing hint.
    pub route: String,
}

impl Default for PiiTag {
    fn default() -> Self {
        PiiTag {
            tags: vec!["pii".to_owned()],
            route: PRIVACY.to_owned(),
        }
    }
}

impl Rule for PiiTag {
    const ID: &'static str = "pii-tag";
    const SUMMARY: &'static str =
        "Deny external and escalate write tool calls the runtime tagged as carrying personal data";
    const STRICTNESS: &'static [(&'static str, Strictness)] = &[("tags", Strictness::Superset)];

    fn check(&self, req: &Request) -> Outcome {
        let action = &req.action;
        let verdict_for = |tag: &str| match action.safety_class {
            SafetyClass::External => Some(Outcome::deny(format!(
                "the runtime tagged the call `{tag}` (personal data) and `{}` is an external tool",
                action.tool
            ))),
            SafetyClass::Write => Some(routed(
                Outcome::escalate(format!(
                    "the runtime tagged the call `{tag}` (personal data) and `{}` writes data",
                    action.tool
                )),
                &self.route,
            )),
            _ => None,
        };
        action
            .tags
            .iter()
            .find(|t| self.tags.iter().any(|w| w.eq_ignore_ascii_case(t)))
            .and_then(|tag| verdict_for(tag))
            .unwrap_or(Outcome::Pass)
    }
}
