//! The built-in packs, built for `wasm32-wasip2` and run through the engine:
//! every rule of `treasury`, `pii-strict` and `external-tools-untrusted`
//! fires with its verdict and reason, stays silent on near misses, and
//! follows the overrides of a layer. Every scenario runs in both isolation
//! modes, which must decide identically. At the end, a realistic
//! composition of all three packs answers a handful of agent requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{compose, pack, request};
use serde_json::{Map, Value, json};
use warden_host::{Basis, Composition, Decision, FindingRecord, Isolation, Request, Verdict};
use warden_tests::BUILT_IN;

// ---------------------------------------------------------------- helpers

/// The same composition twice: fresh instances and reused instances.
struct Both {
    fresh: Composition,
    reuse: Composition,
}

impl Both {
    /// Composes `packs` for tenant `acme` with `spec` in both isolation modes.
    fn new(packs: &[&str], spec: Value) -> Both {
        let with = |isolation: &str| {
            let mut spec = spec.clone();
            spec.as_object_mut()
                .expect("the spec is an object")
                .insert("isolation".into(), json!(isolation));
            compose("acme", packs, spec)
        };
        let both = Both {
            fresh: with("fresh"),
            reuse: with("reuse"),
        };
        assert_eq!(both.fresh.isolation(), Isolation::Fresh);
        assert_eq!(both.reuse.isolation(), Isolation::Reuse);
        both
    }

    /// Evaluates `req` with fresh instances and twice with reused ones (the
    /// second time on a pooled instance that has served earlier requests),
    /// asserts the three decisions agree, and returns the fresh one.
    #[track_caller]
    fn eval(&self, req: &Request) -> Decision {
        let fresh = self.fresh.evaluate(req);
        let reused = [self.reuse.evaluate(req), self.reuse.evaluate(req)];
        let what = &req.action.tool;
        for r in &reused {
            assert_eq!(
                r.verdict, fresh.verdict,
                "{what}: {r:#?}\nvs fresh {fresh:#?}"
            );
            assert_eq!(
                r.explanation.findings, fresh.explanation.findings,
                "{what}: reuse and fresh disagree"
            );
            assert_eq!(r.routes, fresh.routes, "{what}");
            assert_eq!(r.reason, fresh.reason, "{what}");
            assert_eq!(r.explanation.basis, fresh.explanation.basis, "{what}");
        }
        for run in fresh
            .explanation
            .packs
            .iter()
            .chain(reused.iter().flat_map(|d| d.explanation.packs.iter()))
        {
            assert_eq!(run.status, "ok", "{what}: pack `{}` failed", run.pack);
        }
        assert!(
            fresh.explanation.packs.iter().all(|p| !p.reused_instance),
            "{what}: fresh mode reused an instance"
        );
        assert!(
            reused[1]
                .explanation
                .packs
                .iter()
                .all(|p| p.reused_instance),
            "{what}: reuse mode did not reuse its instance"
        );
        fresh
    }
}

/// The single finding of `pack_rule` (`pack/rule`), asserting its verdict
/// and that its reason contains `fragment`. When the finding decided, the
/// decision's one-line reason quotes it.
#[track_caller]
fn fired<'d>(
    d: &'d Decision,
    pack_rule: &str,
    verdict: Verdict,
    fragment: &str,
) -> &'d FindingRecord {
    let (pack, rule) = pack_rule.split_once('/').expect("`pack/rule`");
    let matching: Vec<&FindingRecord> = d
        .explanation
        .findings
        .iter()
        .filter(|f| f.rule == rule)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "expected one `{pack_rule}` finding: {:#?}",
        d.explanation.findings
    );
    let f = matching[0];
    assert_eq!(f.pack, pack, "{f:?}");
    assert_eq!(f.verdict, verdict, "`{pack_rule}`: {f:?}");
    assert!(
        f.reason.contains(fragment),
        "`{pack_rule}` reason {:?} lacks {fragment:?}",
        f.reason
    );
    if f.verdict == d.verdict {
        let quoted = format!("{pack}/{rule}: {}", f.reason);
        assert!(
            d.reason.contains(&quoted),
            "{:?} lacks {quoted:?}",
            d.reason
        );
    }
    f
}

/// Asserts that `rule` made no finding.
#[track_caller]
fn silent(d: &Decision, rule: &str) {
    assert!(
        d.explanation.findings.iter().all(|f| f.rule != rule),
        "`{rule}` should not fire: {:#?}",
        d.explanation.findings
    );
}

/// Asserts that no rule applied and the default effect (`allow`) decided.
#[track_caller]
fn nothing_applies(d: &Decision) {
    assert_eq!(
        (d.verdict, d.explanation.basis),
        (Verdict::Allow, Basis::DefaultEffect),
        "{:#?}",
        d.explanation.findings
    );
    assert!(d.explanation.findings.is_empty());
    assert!(d.routes.is_empty());
}

#[track_caller]
fn verdict_and_routes(d: &Decision, verdict: Verdict, routes: &[&str]) {
    assert_eq!(d.verdict, verdict, "{:#?}", d.explanation.findings);
    assert_eq!(d.routes, routes, "{:#?}", d.explanation.findings);
}

/// Settings with the default effect `allow`, so that a request no rule
/// applies to is visibly allowed.
fn defaults() -> Value {
    json!({"default_effect": "allow"})
}

/// [`defaults`] plus a `fleet` layer setting `rules` of `pack`.
fn fleet(pack: &str, rules: Value) -> Value {
    json!({"default_effect": "allow",
           "layers": [{"name": "fleet", "packs": {pack: rules}}]})
}

/// A money-moving request.
fn payment(
    tool: &str,
    class: &str,
    amount: Option<(i64, &str)>,
    counterparty: Option<&str>,
) -> Request {
    let mut extra = Map::new();
    if let Some((minor_units, currency)) = amount {
        extra.insert(
            "amount".into(),
            json!({"minor_units": minor_units, "currency": currency}),
        );
    }
    if let Some(c) = counterparty {
        extra.insert("counterparty".into(), json!(c));
    }
    request(tool, class, Value::Object(extra))
}

/// An invoice payment to `ACME GmbH`.
fn pay(minor_units: i64, currency: &str) -> Request {
    payment(
        "payments.pay_invoice",
        "financial",
        Some((minor_units, currency)),
        Some("ACME GmbH"),
    )
}

/// An invoice payment of 100.00 EUR to `counterparty`.
fn pay_to(counterparty: Option<&str>) -> Request {
    payment(
        "payments.pay_invoice",
        "financial",
        Some((100_00, "EUR")),
        counterparty,
    )
}

/// A tool call with arguments and tags.
fn call(tool: &str, class: &str, args: Value, tags: &[&str]) -> Request {
    request(tool, class, json!({"args": args, "tags": tags}))
}

const TREASURY: [&str; 1] = ["treasury"];
const PII: [&str; 1] = ["pii-strict"];
const EXT: [&str; 1] = ["external-tools-untrusted"];

// ---------------------------------------------------------------- treasury

#[test]
fn treasury_amount_limit() {
    let c = Both::new(&TREASURY, defaults());
    let d = c.eval(&pay(12_500_00, "EUR"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/amount-limit",
        Verdict::Deny,
        "12500.00 EUR exceeds the limit of 10000.00 EUR",
    );
    // One minor unit over the limit denies; exactly at the limit passes
    // (and the approval threshold escalates instead).
    let d = c.eval(&pay(10_000_01, "EUR"));
    fired(
        &d,
        "treasury/amount-limit",
        Verdict::Deny,
        "10000.01 EUR exceeds the limit of 10000.00 EUR",
    );
    let d = c.eval(&pay(10_000_00, "EUR"));
    silent(&d, "amount-limit");
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    // Each currency has its own limit.
    let d = c.eval(&pay(8_000_01, "GBP"));
    fired(
        &d,
        "treasury/amount-limit",
        Verdict::Deny,
        "8000.01 GBP exceeds the limit of 8000.00 GBP",
    );
    silent(&c.eval(&pay(9_000_00, "USD")), "amount-limit");
    // Refunds count by their size.
    let refund = payment(
        "payments.refund",
        "financial",
        Some((-12_500_00, "EUR")),
        Some("ACME GmbH"),
    );
    fired(
        &c.eval(&refund),
        "treasury/amount-limit",
        Verdict::Deny,
        "a refund/reversal of 12500.00 EUR exceeds the limit of 10000.00 EUR",
    );
    // A currency without a limit is escalated to finance.
    let d = c.eval(&pay(500_000, "JPY"));
    let f = fired(
        &d,
        "treasury/amount-limit",
        Verdict::Escalate,
        "no limit is configured for JPY, so 500000 JPY cannot be checked against one",
    );
    assert_eq!(f.route.as_deref(), Some("finance"));
    // Reading a balance moves no money, whatever amount it carries.
    let balance = payment(
        "treasury.get_balance",
        "read-only",
        Some((50_000_00, "EUR")),
        None,
    );
    nothing_applies(&c.eval(&balance));

    // A layer lowers the limit and lets currencies without one pass.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"amount-limit": {"params": {"max": ["50.00 EUR"], "unknown_currency": "pass"}}}),
        ),
    );
    let d = c.eval(&pay(60_00, "EUR"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/amount-limit",
        Verdict::Deny,
        "60.00 EUR exceeds the limit of 50.00 EUR",
    );
    nothing_applies(&c.eval(&pay(50_00, "EUR")));
    // 20000 USD is over the default USD limit, but USD has no limit now.
    let d = c.eval(&pay(20_000_00, "USD"));
    silent(&d, "amount-limit");
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);

    // `unknown_currency: deny` refuses what cannot be checked.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"amount-limit": {"params": {"max": ["50.00 EUR"], "unknown_currency": "deny"}}}),
        ),
    );
    let d = c.eval(&pay(1_00, "USD"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/amount-limit",
        Verdict::Deny,
        "no limit is configured for USD, so 1.00 USD cannot be checked against one",
    );

    // Disabled, the limit no longer denies; the threshold still escalates.
    let c = Both::new(
        &TREASURY,
        fleet("treasury", json!({"amount-limit": {"enabled": false}})),
    );
    let d = c.eval(&pay(12_500_00, "EUR"));
    silent(&d, "amount-limit");
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
}

#[test]
fn treasury_approval_threshold() {
    let c = Both::new(&TREASURY, defaults());
    let d = c.eval(&pay(1_000_01, "EUR"));
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    let f = fired(
        &d,
        "treasury/approval-threshold",
        Verdict::Escalate,
        "1000.01 EUR is above the approval threshold of 1000.00 EUR",
    );
    assert_eq!(f.route.as_deref(), Some("finance"));
    nothing_applies(&c.eval(&pay(1_000_00, "EUR")));
    fired(
        &c.eval(&pay(900_00, "GBP")),
        "treasury/approval-threshold",
        Verdict::Escalate,
        "900.00 GBP is above the approval threshold of 800.00 GBP",
    );
    let refund = payment(
        "payments.refund",
        "financial",
        Some((-5_000_00, "EUR")),
        Some("ACME GmbH"),
    );
    let d = c.eval(&refund);
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    fired(
        &d,
        "treasury/approval-threshold",
        Verdict::Escalate,
        "a refund/reversal of 5000.00 EUR is above the approval threshold of 1000.00 EUR",
    );

    // A layer lowers the threshold and routes to the treasury desk; USD has
    // no threshold any more.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"approval-threshold": {"params": {"threshold": ["100.00 EUR"], "route": "treasury-desk"}}}),
        ),
    );
    let d = c.eval(&pay(200_00, "EUR"));
    verdict_and_routes(&d, Verdict::Escalate, &["treasury-desk"]);
    fired(
        &d,
        "treasury/approval-threshold",
        Verdict::Escalate,
        "200.00 EUR is above the approval threshold of 100.00 EUR",
    );
    nothing_applies(&c.eval(&pay(5_000_00, "USD")));

    // An empty route escalates without a route hint.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"approval-threshold": {"params": {"route": ""}}}),
        ),
    );
    let d = c.eval(&pay(5_000_00, "EUR"));
    verdict_and_routes(&d, Verdict::Escalate, &[]);
    let f = fired(
        &d,
        "treasury/approval-threshold",
        Verdict::Escalate,
        "5000.00 EUR is above the approval threshold of 1000.00 EUR",
    );
    assert_eq!(f.route, None);

    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"approval-threshold": {"enabled": false}}),
        ),
    );
    nothing_applies(&c.eval(&pay(5_000_00, "EUR")));
}

#[test]
fn treasury_counterparty_blocklist() {
    // The default blocklist is empty.
    let c = Both::new(&TREASURY, defaults());
    nothing_applies(&c.eval(&pay_to(Some("Evil Corp"))));

    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"counterparty-blocklist": {"params": {"blocked": ["Evil Corp", "*sanctioned*"]}}}),
        ),
    );
    let d = c.eval(&pay_to(Some("  evil   CORP ")));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/counterparty-blocklist",
        Verdict::Deny,
        "counterparty `evil CORP` is blocked (matches blocklist entry `Evil Corp`)",
    );
    let d = c.eval(&pay_to(Some("Acme Sanctioned Holdings")));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/counterparty-blocklist",
        Verdict::Deny,
        "counterparty `Acme Sanctioned Holdings` is blocked (matches blocklist entry `*sanctioned*`)",
    );
    // Entries without wildcards match whole names only.
    nothing_applies(&c.eval(&pay_to(Some("Evil Corporation"))));
    nothing_applies(&c.eval(&pay_to(None)));
    // Not a payment: a balance lookup naming a blocked counterparty.
    let lookup = payment("treasury.get_balance", "read-only", None, Some("Evil Corp"));
    nothing_applies(&c.eval(&lookup));
}

#[test]
fn treasury_counterparty_allowlist() {
    // Off by default.
    let c = Both::new(&TREASURY, defaults());
    nothing_applies(&c.eval(&pay_to(Some("Unknown Ltd"))));
    nothing_applies(&c.eval(&pay_to(None)));

    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"counterparty-allowlist": {"enabled": true,
                   "params": {"allowed": ["ACME GmbH", "*@suppliers.example.com"]}}}),
        ),
    );
    nothing_applies(&c.eval(&pay_to(Some(" acme   GMBH "))));
    nothing_applies(&c.eval(&pay_to(Some("billing@suppliers.example.com"))));
    let d = c.eval(&pay_to(Some("Other Ltd")));
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    fired(
        &d,
        "treasury/counterparty-allowlist",
        Verdict::Escalate,
        "counterparty `Other Ltd` is not on the counterparty allowlist",
    );
    let d = c.eval(&pay_to(None));
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    fired(
        &d,
        "treasury/counterparty-allowlist",
        Verdict::Escalate,
        "`payments.pay_invoice` is a payment but names no counterparty, so it cannot be checked against the counterparty allowlist",
    );

    // `unknown: deny` denies instead.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"counterparty-allowlist": {"enabled": true,
                   "params": {"allowed": ["ACME GmbH"], "unknown": "deny"}}}),
        ),
    );
    let d = c.eval(&pay_to(Some("Other Ltd")));
    verdict_and_routes(&d, Verdict::Deny, &[]);
    fired(
        &d,
        "treasury/counterparty-allowlist",
        Verdict::Deny,
        "counterparty `Other Ltd` is not on the counterparty allowlist",
    );
    nothing_applies(&c.eval(&pay_to(Some("ACME GmbH"))));

    // Enabled with an empty allowlist, every payment is escalated.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"counterparty-allowlist": {"enabled": true}}),
        ),
    );
    let d = c.eval(&pay_to(Some("ACME GmbH")));
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    fired(
        &d,
        "treasury/counterparty-allowlist",
        Verdict::Escalate,
        "counterparty `ACME GmbH` is not on the counterparty allowlist (the allowlist is empty)",
    );
}

#[test]
fn treasury_currency_allowlist() {
    let c = Both::new(&TREASURY, defaults());
    let d = c.eval(&pay(500_000, "JPY"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/currency-allowlist",
        Verdict::Deny,
        "500000 JPY is in currency `JPY`, which is not allowed (allowed: EUR, USD, GBP, CHF)",
    );
    nothing_applies(&c.eval(&pay(100_00, "CHF")));

    // A layer replaces the list; codes may be written in any case.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"currency-allowlist": {"params": {"currencies": ["eur", "jpy"]}}}),
        ),
    );
    let d = c.eval(&pay(500_000, "JPY"));
    silent(&d, "currency-allowlist");
    // JPY has no amount limit, so it is escalated rather than denied.
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    fired(&d, "treasury/amount-limit", Verdict::Escalate, "JPY");
    let d = c.eval(&pay(100_00, "USD"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/currency-allowlist",
        Verdict::Deny,
        "100.00 USD is in currency `USD`, which is not allowed (allowed: EUR, JPY)",
    );

    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"currency-allowlist": {"enabled": false}}),
        ),
    );
    let d = c.eval(&pay(500_000, "JPY"));
    silent(&d, "currency-allowlist");
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
}

#[test]
fn treasury_non_positive_amount() {
    let c = Both::new(&TREASURY, defaults());
    let d = c.eval(&pay(0, "EUR"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/non-positive-amount",
        Verdict::Deny,
        "the amount 0.00 EUR is zero; `payments.pay_invoice` must move a positive amount \
         (only refund tools may carry negative amounts)",
    );
    fired(
        &c.eval(&pay(-5, "EUR")),
        "treasury/non-positive-amount",
        Verdict::Deny,
        "the amount -0.05 EUR is negative",
    );
    nothing_applies(&c.eval(&pay(1, "EUR")));
    // Refund tools may carry negative amounts, but still need one.
    let refund = |amount| payment("payments.refund", "financial", amount, Some("ACME GmbH"));
    nothing_applies(&c.eval(&refund(Some((-50_00, "EUR")))));
    fired(
        &c.eval(&refund(None)),
        "treasury/non-positive-amount",
        Verdict::Deny,
        "`payments.refund` is a payment but carries no amount, so its size cannot be checked",
    );
    let no_amount = payment("payments.pay_invoice", "financial", None, Some("ACME GmbH"));
    fired(
        &c.eval(&no_amount),
        "treasury/non-positive-amount",
        Verdict::Deny,
        "`payments.pay_invoice` is a payment but carries no amount",
    );
    // The broad default tool patterns catch `drive.transfer_ownership`
    // (documented); read-only calls are never payments.
    let transfer = |class| payment("drive.transfer_ownership", class, None, None);
    let d = c.eval(&transfer("write"));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "treasury/non-positive-amount",
        Verdict::Deny,
        "`drive.transfer_ownership` is a payment but carries no amount",
    );
    nothing_applies(&c.eval(&transfer("read-only")));

    // Layers: no amount required; no refund exemption; narrower tools.
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"non-positive-amount": {"params": {"require_amount": false}}}),
        ),
    );
    nothing_applies(&c.eval(&no_amount));
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"non-positive-amount": {"params": {"exempt_tools": []}}}),
        ),
    );
    fired(
        &c.eval(&refund(Some((-50_00, "EUR")))),
        "treasury/non-positive-amount",
        Verdict::Deny,
        "the amount -50.00 EUR is negative; `payments.refund` must move a positive amount",
    );
    let c = Both::new(
        &TREASURY,
        fleet(
            "treasury",
            json!({"non-positive-amount": {"params": {"tools": ["payments.*"]}}}),
        ),
    );
    nothing_applies(&c.eval(&transfer("write")));
    // Financial calls are payments whatever their tool name.
    fired(
        &c.eval(&payment(
            "shop.checkout",
            "financial",
            Some((0, "EUR")),
            None,
        )),
        "treasury/non-positive-amount",
        Verdict::Deny,
        "the amount 0.00 EUR is zero; `shop.checkout` must move a positive amount",
    );
}

// ---------------------------------------------------------------- pii-strict

const EMAIL: &str = "jane.doe@example.com";
const PHONE: &str = "+44 20 7946 0958";
const CARD: &str = "4111 1111 1111 1111";
const IBAN: &str = "DE89 3704 0044 0532 0130 00";
const SSN: &str = "123-45-6789";

#[test]
fn pii_external() {
    let c = Both::new(&PII, defaults());
    let d = c.eval(&call(
        "mail.send",
        "external",
        json!({"to": EMAIL, "subject": "Your invoice"}),
        &[],
    ));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "pii-strict/pii-external",
        Verdict::Deny,
        "external tool `mail.send` would receive an e-mail address at /to",
    );
    assert!(!d.reason.contains(EMAIL), "reasons never show the value");
    // Near misses: a Luhn-invalid card-like number, a millisecond
    // timestamp, an address without a domain, numbers that are not strings.
    nothing_applies(&c.eval(&call(
        "mail.send",
        "external",
        json!({"body": "order 4111 1111 1111 1112 at 1700000000000 for admin@localhost",
               "card": 4_111_111_111_111_111_u64}),
        &[],
    )));
    // Reading mail discloses nothing.
    nothing_applies(&c.eval(&call(
        "mail.search",
        "read-only",
        json!({"from": EMAIL}),
        &[],
    )));

    // Each detector fires, and its switch turns it off.
    for (switch, value, what) in [
        ("emails", EMAIL, "an e-mail address at /v"),
        ("phones", PHONE, "a phone number (ending 58) at /v"),
        ("cards", CARD, "a payment card number (ending 1111) at /v"),
        ("ibans", IBAN, "an IBAN (DE, ending 3000) at /v"),
        ("ssns", SSN, "a US social security number at /v"),
    ] {
        let req = call("sms.send", "external", json!({ "v": value }), &[]);
        let d = c.eval(&req);
        assert_eq!(d.verdict, Verdict::Deny, "{switch}");
        fired(
            &d,
            "pii-strict/pii-external",
            Verdict::Deny,
            &format!("external tool `sms.send` would receive {what}"),
        );
        let off = Both::new(
            &PII,
            fleet(
                "pii-strict",
                json!({"pii-external": {"params": { switch: false }}}),
            ),
        );
        nothing_applies(&off.eval(&req));
    }

    // An exempt tool may receive personal data; others still may not.
    let c = Both::new(
        &PII,
        fleet(
            "pii-strict",
            json!({"pii-external": {"params": {"allow_tools": ["mail.*"]}}}),
        ),
    );
    nothing_applies(&c.eval(&call("mail.send", "external", json!({"to": EMAIL}), &[])));
    fired(
        &c.eval(&call("sms.send", "external", json!({"to": PHONE}), &[])),
        "pii-strict/pii-external",
        Verdict::Deny,
        "external tool `sms.send` would receive a phone number (ending 58) at /to",
    );

    let c = Both::new(
        &PII,
        fleet("pii-strict", json!({"pii-external": {"enabled": false}})),
    );
    nothing_applies(&c.eval(&call("mail.send", "external", json!({"to": EMAIL}), &[])));
}

#[test]
fn pii_write() {
    let c = Both::new(&PII, defaults());
    let contact = call(
        "crm.update",
        "write",
        json!({"contact": {"mail": "jane@example.com", "phone": PHONE}}),
        &[],
    );
    let d = c.eval(&contact);
    verdict_and_routes(&d, Verdict::Escalate, &["privacy"]);
    fired(
        &d,
        "pii-strict/pii-write",
        Verdict::Escalate,
        "write tool `crm.update` would store an e-mail address at /contact/mail, \
         a phone number (ending 58) at /contact/phone",
    );
    // Card numbers are denied, not escalated.
    let note = call(
        "notes.create",
        "write",
        json!({"text": format!("customer card {CARD}")}),
        &[],
    );
    let d = c.eval(&note);
    verdict_and_routes(&d, Verdict::Deny, &[]);
    fired(
        &d,
        "pii-strict/pii-write",
        Verdict::Deny,
        "write tool `notes.create` would store a payment card number (ending 1111) at /text; \
         card numbers are kept in the payment system only",
    );
    nothing_applies(&c.eval(&call(
        "notes.create",
        "write",
        json!({"text": "call back tomorrow about ticket 4711"}),
        &[],
    )));
    // Payment tools legitimately carry IBANs and cards.
    nothing_applies(&c.eval(&call(
        "payments.pay_invoice",
        "financial",
        json!({"iban": IBAN, "card": CARD}),
        &[],
    )));

    // Without `cards_always_deny`, a card is escalated like other PII.
    let c = Both::new(
        &PII,
        fleet(
            "pii-strict",
            json!({"pii-write": {"params": {"cards_always_deny": false}}}),
        ),
    );
    let d = c.eval(&note);
    verdict_and_routes(&d, Verdict::Escalate, &["privacy"]);
    fired(
        &d,
        "pii-strict/pii-write",
        Verdict::Escalate,
        "write tool `notes.create` would store a payment card number (ending 1111) at /text",
    );

    // Another route, an exempt CRM.
    let c = Both::new(
        &PII,
        fleet(
            "pii-strict",
            json!({"pii-write": {"params": {"route": "dpo", "allow_tools": ["crm.*"]}}}),
        ),
    );
    nothing_applies(&c.eval(&contact));
    let d = c.eval(&call("tickets.create", "write", json!({"body": SSN}), &[]));
    verdict_and_routes(&d, Verdict::Escalate, &["dpo"]);
    fired(
        &d,
        "pii-strict/pii-write",
        Verdict::Escalate,
        "write tool `tickets.create` would store a US social security number at /body",
    );

    // An empty route: escalated without a hint.
    let c = Both::new(
        &PII,
        fleet(
            "pii-strict",
            json!({"pii-write": {"params": {"route": ""}}}),
        ),
    );
    let d = c.eval(&contact);
    verdict_and_routes(&d, Verdict::Escalate, &[]);
    assert_eq!(
        fired(&d, "pii-strict/pii-write", Verdict::Escalate, "crm.update").route,
        None
    );

    let c = Both::new(
        &PII,
        fleet("pii-strict", json!({"pii-write": {"enabled": false}})),
    );
    nothing_applies(&c.eval(&note));
}

#[test]
fn pii_tag() {
    let c = Both::new(&PII, defaults());
    let d = c.eval(&call(
        "http.get",
        "external",
        json!({"q": "weather"}),
        &["PII"],
    ));
    assert_eq!(d.verdict, Verdict::Deny);
    assert_eq!(d.explanation.findings.len(), 1, "no detector fired");
    fired(
        &d,
        "pii-strict/pii-tag",
        Verdict::Deny,
        "the runtime tagged the call `PII` (personal data) and `http.get` is an external tool",
    );
    let d = c.eval(&call(
        "crm.update",
        "write",
        json!({"note": "ok"}),
        &["pii"],
    ));
    verdict_and_routes(&d, Verdict::Escalate, &["privacy"]);
    fired(
        &d,
        "pii-strict/pii-tag",
        Verdict::Escalate,
        "the runtime tagged the call `pii` (personal data) and `crm.update` writes data",
    );
    // A tagged external call that also carries an address gets both findings.
    let d = c.eval(&call("http.get", "external", json!({"q": EMAIL}), &["pii"]));
    fired(&d, "pii-strict/pii-tag", Verdict::Deny, "`pii`");
    fired(
        &d,
        "pii-strict/pii-external",
        Verdict::Deny,
        "an e-mail address at /q",
    );
    // Reads are not checked; other tags mean nothing by default.
    nothing_applies(&c.eval(&call("crm.lookup", "read-only", json!({}), &["pii"])));
    nothing_applies(&c.eval(&call("http.get", "external", json!({}), &["phi"])));

    // A layer adds a tag and drops the route.
    let c = Both::new(
        &PII,
        fleet(
            "pii-strict",
            json!({"pii-tag": {"params": {"tags": ["pii", "phi"], "route": ""}}}),
        ),
    );
    fired(
        &c.eval(&call("http.get", "external", json!({}), &["phi"])),
        "pii-strict/pii-tag",
        Verdict::Deny,
        "the runtime tagged the call `phi` (personal data)",
    );
    let d = c.eval(&call("crm.update", "write", json!({}), &["pii"]));
    verdict_and_routes(&d, Verdict::Escalate, &[]);

    let c = Both::new(
        &PII,
        fleet("pii-strict", json!({"pii-tag": {"enabled": false}})),
    );
    nothing_applies(&c.eval(&call("http.get", "external", json!({}), &["pii"])));
}

// ---------------------------------------------------------------- external-tools-untrusted

#[test]
fn external_tool_allowlist() {
    let c = Both::new(&EXT, defaults());
    let d = c.eval(&call(
        "email.send",
        "external",
        json!({"subject": "hi"}),
        &[],
    ));
    assert_eq!(d.verdict, Verdict::Deny);
    fired(
        &d,
        "external-tools-untrusted/external-tool-allowlist",
        Verdict::Deny,
        "external tool `email.send` is not on the external tool allowlist (allowed: `http.get`, `search.*`)",
    );
    nothing_applies(&c.eval(&call("search.web", "external", json!({"q": "rust"}), &[])));
    nothing_applies(&c.eval(&call("http.get", "external", json!({}), &[])));
    // Tool names match case-sensitively.
    fired(
        &c.eval(&call("Search.web", "external", json!({"q": "rust"}), &[])),
        "external-tools-untrusted/external-tool-allowlist",
        Verdict::Deny,
        "external tool `Search.web` is not on the external tool allowlist",
    );
    // Only external tools are checked.
    nothing_applies(&c.eval(&call("email.send", "write", json!({"subject": "hi"}), &[])));

    let c = Both::new(
        &EXT,
        fleet(
            "external-tools-untrusted",
            json!({"external-tool-allowlist": {"params": {"allow_tools": ["http.get", "search.*", "weather.lookup"]}}}),
        ),
    );
    nothing_applies(&c.eval(&call(
        "weather.lookup",
        "external",
        json!({"city": "Oslo"}),
        &[],
    )));
    fired(
        &c.eval(&call("email.send", "external", json!({}), &[])),
        "external-tools-untrusted/external-tool-allowlist",
        Verdict::Deny,
        "(allowed: `http.get`, `search.*`, `weather.lookup`)",
    );

    let c = Both::new(
        &EXT,
        fleet(
            "external-tools-untrusted",
            json!({"external-tool-allowlist": {"params": {"allow_tools": []}}}),
        ),
    );
    fired(
        &c.eval(&call("http.get", "external", json!({}), &[])),
        "external-tools-untrusted/external-tool-allowlist",
        Verdict::Deny,
        "external tool `http.get` is not on the external tool allowlist \
         (the allowlist is empty, so no external tool may run)",
    );

    let c = Both::new(
        &EXT,
        fleet(
            "external-tools-untrusted",
            json!({"external-tool-allowlist": {"enabled": false}}),
        ),
    );
    nothing_applies(&c.eval(&call("email.send", "external", json!({}), &[])));
}

#[test]
fn url_domain_allowlist() {
    let get = |url: &str| call("http.get", "external", json!({ "url": url }), &[]);
    const RULE: &str = "external-tools-untrusted/url-domain-allowlist";

    // Out of the box the allowlist is empty: every URL is denied.
    let c = Both::new(&EXT, defaults());
    let d = c.eval(&get("https://api.example.com/x?token=secret"));
    assert_eq!(d.verdict, Verdict::Deny);
    let f = fired(
        &d,
        RULE,
        Verdict::Deny,
        "`http.get` may not reach host `api.example.com`: the domain allowlist is empty, so no URL is allowed",
    );
    assert!(f.reason.contains("at args `/url`"), "{}", f.reason);
    assert!(
        !f.reason.contains("secret"),
        "the query stays out: {}",
        f.reason
    );
    nothing_applies(&c.eval(&call(
        "http.get",
        "external",
        json!({"q": "no urls here"}),
        &[],
    )));

    let c = Both::new(
        &EXT,
        fleet(
            "external-tools-untrusted",
            json!({"url-domain-allowlist": {"params": {"allow_domains": [".example.com"]}}}),
        ),
    );
    nothing_applies(&c.eval(&get("https://api.example.com/x")));
    nothing_applies(&c.eval(&get("https://example.com/")));
    fired(
        &c.eval(&get("https://evil.com/x")),
        RULE,
        Verdict::Deny,
        "`http.get` may not reach host `evil.com`: not on the domain allowlist",
    );
    // Userinfo ends at the last `@`: the host is evil.com.
    fired(
        &c.eval(&get("https://api.example.com@evil.com/x")),
        RULE,
        Verdict::Deny,
        "may not reach host `evil.com`: not on the domain allowlist",
    );
    fired(
        &c.eval(&get("https://evilexample.com/")),
        RULE,
        Verdict::Deny,
        "may not reach host `evilexample.com`",
    );
    fired(
        &c.eval(&get("ftp://api.example.com/x")),
        RULE,
        Verdict::Deny,
        "`http.get` may not use `ftp:` URLs (allowed: `http`, `https`)",
    );
    fired(
        &c.eval(&get("http://169.254.169.254/latest/meta-data")),
        RULE,
        Verdict::Deny,
        "may not reach IP address `169.254.169.254`: link-local, cloud metadata (169.254.0.0/16) addresses are never allowed",
    );
    // Write tools are checked too, anywhere in their arguments.
    fired(
        &c.eval(&call(
            "crm.update",
            "write",
            json!({"notes": ["ok", "see https://evil.com/x for details"]}),
            &[],
        )),
        RULE,
        Verdict::Deny,
        "`crm.update` may not reach host `evil.com`: not on the domain allowlist (URL `https://evil.com` at args `/notes/1`)",
    );
    // Reads and payments are not checked by default.
    nothing_applies(&c.eval(&call(
        "docs.read",
        "read-only",
        json!({"src": "https://evil.com/x"}),
        &[],
    )));
    let webhook = call(
        "billing.webhook",
        "financial",
        json!({"callback": "https://evil.com/hook"}),
        &[],
    );
    nothing_applies(&c.eval(&webhook));

    // More classes, fewer schemes.
    let c = Both::new(
        &EXT,
        fleet(
            "external-tools-untrusted",
            json!({"url-domain-allowlist": {"params": {
                "allow_domains": [".example.com"],
                "allow_schemes": ["https"],
                "classes": ["external", "write", "financial"]}}}),
        ),
    );
    fired(
        &c.eval(&webhook),
        RULE,
        Verdict::Deny,
        "`billing.webhook` may not reach host `evil.com`",
    );
    fired(
        &c.eval(&get("http://api.example.com/x")),
        RULE,
        Verdict::Deny,
        "may not use `http:` URLs (allowed: `https`)",
    );
    nothing_applies(&c.eval(&get("https://api.example.com/x")));

    // `*` allows any domain name, but never a homograph.
    let c = Both::new(
        &EXT,
        fleet(
            "external-tools-untrusted",
            json!({"url-domain-allowlist": {"params": {"allow_domains": ["*"]}}}),
        ),
    );
    nothing_applies(&c.eval(&get("https://evil.com/x")));
    fired(
        &c.eval(&get("https://p\u{430}ypal.com/login")),
        RULE,
        Verdict::Deny,
        "may not reach internationalised host `xn--pypal-4ve.com`",
    );

    let c = Both::new(
        &EXT,
        fleet(
            "external-tools-untrusted",
            json!({"url-domain-allowlist": {"enabled": false}}),
        ),
    );
    nothing_applies(&c.eval(&get("https://evil.com/x")));
}

#[test]
fn escalate_destructive() {
    let c = Both::new(&EXT, defaults());
    let d = c.eval(&call(
        "db.drop_table",
        "destructive",
        json!({"table": "t"}),
        &[],
    ));
    verdict_and_routes(&d, Verdict::Escalate, &["security"]);
    let f = fired(
        &d,
        "external-tools-untrusted/escalate-destructive",
        Verdict::Escalate,
        "`db.drop_table` is destructive (deletes or irreversibly changes data); a human must approve it",
    );
    assert_eq!(f.route.as_deref(), Some("security"));
    nothing_applies(&c.eval(&call("db.insert", "write", json!({"table": "t"}), &[])));

    let c = Both::new(
        &EXT,
        fleet(
            "external-tools-untrusted",
            json!({"escalate-destructive": {"params": {"route": "dba", "exempt_tools": ["scratch.delete_*"]}}}),
        ),
    );
    nothing_applies(&c.eval(&call("scratch.delete_tmp", "destructive", json!({}), &[])));
    let d = c.eval(&call("db.drop_table", "destructive", json!({}), &[]));
    verdict_and_routes(&d, Verdict::Escalate, &["dba"]);

    let c = Both::new(
        &EXT,
        fleet(
            "external-tools-untrusted",
            json!({"escalate-destructive": {"params": {"route": ""}}}),
        ),
    );
    let d = c.eval(&call("db.drop_table", "destructive", json!({}), &[]));
    verdict_and_routes(&d, Verdict::Escalate, &[]);

    let c = Both::new(
        &EXT,
        fleet(
            "external-tools-untrusted",
            json!({"escalate-destructive": {"enabled": false}}),
        ),
    );
    nothing_applies(&c.eval(&call("db.drop_table", "destructive", json!({}), &[])));
}

#[test]
fn untrusted_input() {
    const RULE: &str = "external-tools-untrusted/untrusted-input";
    let c = Both::new(&EXT, defaults());
    let d = c.eval(&call(
        "crm.update",
        "write",
        json!({"note": "ok"}),
        &["untrusted-input"],
    ));
    verdict_and_routes(&d, Verdict::Deny, &[]);
    fired(
        &d,
        RULE,
        Verdict::Deny,
        "`crm.update` is a write action and the request carries untrusted input (tag `untrusted-input`); \
         untrusted input may not drive write, destructive, financial or external actions",
    );
    fired(
        &c.eval(&call(
            "search.web",
            "external",
            json!({"q": "rust"}),
            &["Untrusted"],
        )),
        RULE,
        Verdict::Deny,
        "`search.web` is an external action and the request carries untrusted input (tag `Untrusted`)",
    );
    // Reading is fine; untagged writes are fine; unknown tags mean nothing.
    nothing_applies(&c.eval(&call(
        "docs.read",
        "read-only",
        json!({}),
        &["untrusted-input"],
    )));
    nothing_applies(&c.eval(&call("crm.update", "write", json!({"note": "ok"}), &[])));
    nothing_applies(&c.eval(&call(
        "crm.update",
        "write",
        json!({"note": "ok"}),
        &["from-web"],
    )));

    // A layer adds a tag and narrows the classes to destructive actions.
    let c = Both::new(
        &EXT,
        fleet(
            "external-tools-untrusted",
            json!({"untrusted-input": {"params": {
                "tags": ["untrusted-input", "untrusted", "from-web"],
                "classes": ["destructive"]}}}),
        ),
    );
    nothing_applies(&c.eval(&call(
        "crm.update",
        "write",
        json!({"note": "ok"}),
        &["from-web"],
    )));
    let d = c.eval(&call(
        "files.delete",
        "destructive",
        json!({}),
        &["from-web"],
    ));
    verdict_and_routes(&d, Verdict::Deny, &[]);
    fired(
        &d,
        RULE,
        Verdict::Deny,
        "`files.delete` is a destructive action and the request carries untrusted input (tag `from-web`); \
         untrusted input may not drive destructive actions",
    );
    fired(
        &d,
        "external-tools-untrusted/escalate-destructive",
        Verdict::Escalate,
        "`files.delete` is destructive",
    );

    let c = Both::new(
        &EXT,
        fleet(
            "external-tools-untrusted",
            json!({"untrusted-input": {"enabled": false}}),
        ),
    );
    nothing_applies(&c.eval(&call(
        "crm.update",
        "write",
        json!({}),
        &["untrusted-input"],
    )));
}

// ---------------------------------------------------------------- all three

#[test]
fn three_packs_decide_an_agents_requests() {
    let c = Both::new(
        &BUILT_IN,
        json!({"default_effect": "allow", "layers": [{"name": "fleet", "packs": {
        "external-tools-untrusted": {
            "external-tool-allowlist": {"params": {"allow_tools": ["http.get", "search.*", "email.send"]}},
            "url-domain-allowlist": {"params": {"allow_domains": ["api.example.com"]}}
        }}}]}),
    );
    let mut decisions = Vec::new();
    let mut decide = |req: Request| {
        let d = c.eval(&req);
        decisions.push(d.clone());
        d
    };

    // Small payment: nothing applies, the default effect allows it.
    let d = decide(pay(120_00, "EUR"));
    nothing_applies(&d);
    // Large payment: denied.
    let d = decide(pay(20_000_00, "EUR"));
    verdict_and_routes(&d, Verdict::Deny, &[]);
    fired(
        &d,
        "treasury/amount-limit",
        Verdict::Deny,
        "20000.00 EUR exceeds the limit of 10000.00 EUR",
    );
    // Mid-size payment: escalated to finance.
    let d = decide(pay(5_000_00, "EUR"));
    verdict_and_routes(&d, Verdict::Escalate, &["finance"]);
    fired(
        &d,
        "treasury/approval-threshold",
        Verdict::Escalate,
        "5000.00 EUR is above the approval threshold of 1000.00 EUR",
    );
    assert_eq!(d.explanation.findings.len(), 1);

    // An allowed external e-mail tool: fine without personal data, denied
    // with it.
    nothing_applies(&decide(call(
        "email.send",
        "external",
        json!({"to": "team", "body": "The report is ready."}),
        &[],
    )));
    let d = decide(call(
        "email.send",
        "external",
        json!({"to": EMAIL, "body": "Your invoice"}),
        &[],
    ));
    verdict_and_routes(&d, Verdict::Deny, &[]);
    fired(
        &d,
        "pii-strict/pii-external",
        Verdict::Deny,
        "external tool `email.send` would receive an e-mail address at /to",
    );
    assert_eq!(
        d.explanation.findings.len(),
        1,
        "{:#?}",
        d.explanation.findings
    );

    // URLs: only the allowlisted host, and no userinfo trick.
    let get = |url: &str| call("http.get", "external", json!({ "url": url }), &[]);
    let d = decide(get("https://evil.com/x"));
    verdict_and_routes(&d, Verdict::Deny, &[]);
    fired(
        &d,
        "external-tools-untrusted/url-domain-allowlist",
        Verdict::Deny,
        "`http.get` may not reach host `evil.com`: not on the domain allowlist",
    );
    let d = decide(get("https://api.example.com@evil.com/x"));
    verdict_and_routes(&d, Verdict::Deny, &[]);
    fired(
        &d,
        "external-tools-untrusted/url-domain-allowlist",
        Verdict::Deny,
        "`http.get` may not reach host `evil.com`: not on the domain allowlist",
    );
    nothing_applies(&decide(get("https://api.example.com/x")));

    // Untrusted input may not drive a destructive tool.
    let d = decide(call(
        "files.delete",
        "destructive",
        json!({"path": "/reports/2024"}),
        &["untrusted-input"],
    ));
    verdict_and_routes(&d, Verdict::Deny, &[]);
    fired(
        &d,
        "external-tools-untrusted/untrusted-input",
        Verdict::Deny,
        "`files.delete` is a destructive action and the request carries untrusted input",
    );
    // Without it, the destructive action goes to security.
    let d = decide(call(
        "files.delete",
        "destructive",
        json!({"path": "/reports/2024"}),
        &[],
    ));
    verdict_and_routes(&d, Verdict::Escalate, &["security"]);
    fired(
        &d,
        "external-tools-untrusted/escalate-destructive",
        Verdict::Escalate,
        "`files.delete` is destructive",
    );

    // Every finding and every run names the pack, its version and digest.
    let mut named = 0;
    for d in &decisions {
        assert_eq!(d.explanation.packs.len(), 3);
        for (run, name) in d.explanation.packs.iter().zip(BUILT_IN) {
            assert_eq!(run.pack, name);
            assert_eq!(run.version, "1.0.0");
            assert_eq!(run.digest, pack(name).digest());
        }
        for f in &d.explanation.findings {
            let p = pack(&f.pack);
            assert!(BUILT_IN.contains(&f.pack.as_str()), "{f:?}");
            assert_eq!(f.version, "1.0.0", "{f:?}");
            assert_eq!(f.version, p.version().to_string());
            assert_eq!(f.digest, p.digest(), "{f:?}");
            assert!(
                f.digest.starts_with("sha256:") && f.digest.len() == 71,
                "{f:?}"
            );
            assert!(!f.fail_closed && f.pack_verdict.is_none(), "{f:?}");
            named += 1;
        }
    }
    assert!(named >= 8, "{named} findings");
}
