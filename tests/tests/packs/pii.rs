//! Built-in rules through the engine: pii.

use super::*;

pub(crate) const EMAIL: &str = "jane.doe@example.com";
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
