use super::*;
use crate::trace_log::settings::{MaskAction, MaskRule};
use serde_json::json;

fn req() -> Request {
    serde_json::from_value(serde_json::json!({
        "id": "r1", "tenant": "acme",
        "principal": {"agent": "bot"},
        "action": {"tool": "pay", "safety_class": "financial",
                   "args": {"card": "4111 1111", "memo": "rent", "nested": {"ssn": "123"}}},
        "context": {"email": "a@b.c"}
    }))
    .unwrap()
}

fn rule(pointer: &str, action: MaskAction) -> MaskRule {
    MaskRule {
        pointer: pointer.into(),
        action,
    }
}

#[test]
fn redacts_and_hashes_only_the_named_fields() {
    let m = Masker::new(
        vec![
            MaskRule {
                pointer: "/args/card".into(),
                action: MaskAction::Redact,
            },
            MaskRule {
                pointer: "/args/nested/ssn".into(),
                action: MaskAction::Hash,
            },
            MaskRule {
                pointer: "/context/email".into(),
                action: MaskAction::Hash,
            },
            MaskRule {
                pointer: "/args/absent".into(),
                action: MaskAction::Redact,
            },
        ],
        b"k1",
    );
    let r = req();
    let out = m.apply(&r);
    assert_eq!(out.action.args["card"], REDACTED);
    assert_eq!(out.action.args["memo"], "rent");
    let ssn = out.action.args["nested"]["ssn"].as_str().unwrap();
    assert!(ssn.starts_with("hmac-sha256:") && !ssn.contains("123"));
    assert_ne!(out.context["email"], "a@b.c");
    assert!(out.action.args.get("absent").is_none());
    // Keyed: the same value hashes the same under one key, differently under another.
    assert_eq!(m.apply(&r).action.args["nested"]["ssn"], ssn);
    let other = Masker::new(m.rules.clone(), b"k2");
    assert_ne!(other.apply(&r).action.args["nested"]["ssn"], ssn);
}

/// A masker hiding a message body (long) and a PIN (short).
fn body_and_pin() -> (Masker, Request) {
    let m = Masker::new(
        vec![
            rule("/args/body", MaskAction::Redact),
            rule("/context/pin", MaskAction::Hash),
        ],
        b"k1",
    );
    let r: Request = serde_json::from_value(json!({
        "id": "r2", "tenant": "acme",
        "principal": {"agent": "mailer"},
        "action": {"tool": "email.send", "safety_class": "external",
                   "args": {"to": "ops", "body": "Reset here: https://evil.example/t?k=s3cr3t now"}},
        "context": {"pin": 4242, "turn": 7}
    }))
    .unwrap();
    (m, r)
}

#[test]
fn quoted_pieces_of_a_masked_value_are_scrubbed_from_text() {
    let (m, r) = body_and_pin();
    let masked = m.mask(&r);
    assert!(masked.changed());
    // A reason quoting the URL found inside the masked body loses the URL,
    // and keeps the words around it.
    assert_eq!(
        masked.scrub(
            "`email.send` links to a denied host (URL `https://evil.example/t?k=s3cr3t` at /body)"
        ),
        "`email.send` links to a denied host (URL `[redacted]` at /body)"
    );
    // Runs shorter than FRAGMENT_CHARS that happen to occur in the body stay.
    assert_eq!(masked.scrub("Reset the limit"), "Reset the limit");
    // The short masked number goes where it stands alone, not inside others.
    assert_eq!(
        masked.scrub("pin 4242 tried; invoice 42420 paid"),
        "pin [redacted] tried; invoice 42420 paid"
    );
    // Two pieces next to each other become one redaction; text without any
    // masked value is returned as it was.
    assert_eq!(
        masked.scrub("4242 https://evil.example"),
        "[redacted] [redacted]"
    );
    assert!(matches!(masked.scrub("nothing here"), Cow::Borrowed(_)));
    // Without masking rules nothing is scrubbed.
    let none = Masker::new(Vec::new(), b"k1");
    assert_eq!(
        none.mask(&r).scrub("https://evil.example/t?k=s3cr3t"),
        "https://evil.example/t?k=s3cr3t"
    );
}

#[test]
fn keys_and_leaves_of_a_masked_object_are_scrubbed() {
    let m = Masker::new(vec![rule("/args/customer", MaskAction::Hash)], b"k1");
    let r: Request = serde_json::from_value(json!({
        "id": "r3", "tenant": "acme",
        "principal": {"agent": "crm"},
        "action": {"tool": "crm.update", "safety_class": "write",
                   "args": {"customer": {"jane.doe@example.com": ["DE89 3704 0044"]}}},
    }))
    .unwrap();
    let masked = m.mask(&r);
    assert!(
        masked.request.action.args["customer"]
            .as_str()
            .unwrap()
            .starts_with("hmac-sha256:")
    );
    assert_eq!(
        masked.scrub("an e-mail address jane.doe@example.com, an IBAN DE89 3704 0044"),
        "an e-mail address [redacted], an IBAN [redacted]"
    );
}

#[test]
fn a_decision_is_stored_with_its_texts_scrubbed() {
    let (m, r) = body_and_pin();
    let d: Decision = serde_json::from_value(json!({
        "request_id": "r2", "tenant": "acme", "verdict": "escalate",
        "routes": ["security 4242"],
        "reason": "links to https://evil.example/t?k=s3cr3t",
        "explanation": {
            "basis": "findings",
            "findings": [
                {"pack": "p", "version": "1.0.0", "digest": "sha256:00", "rule": "urls",
                 "verdict": "escalate", "reason": "links to https://evil.example/t?k=s3cr3t",
                 "route": "security 4242"},
                {"pack": "p", "version": "1.0.0", "digest": "sha256:00", "rule": "other",
                 "verdict": "allow", "reason": "fine"}
            ],
            "packs": [{"pack": "p", "version": "1.0.0", "digest": "sha256:00",
                       "status": "trapped: panicked at 'bad pin 4242'",
                       "elapsed_ns": 1, "reused_instance": false}],
            "layers": []
        }
    }))
    .unwrap();
    let masked = m.mask(&r);
    let stored = masked.decision(&d);
    assert_eq!(stored.reason, "links to [redacted]");
    assert_eq!(stored.routes, ["security [redacted]"]);
    let f = &stored.explanation.findings;
    assert_eq!(f[0].reason, "links to [redacted]");
    assert_eq!(f[0].route.as_deref(), Some("security [redacted]"));
    assert_eq!(f[1], d.explanation.findings[1]);
    assert_eq!(
        stored.explanation.packs[0].status,
        "trapped: panicked at 'bad pin [redacted]'"
    );
    assert_eq!(
        (stored.verdict, &stored.request_id),
        (d.verdict, &d.request_id)
    );
    // Nothing to scrub: the decision itself, not a copy.
    let plain = Masker::new(Vec::new(), b"k1");
    assert!(matches!(plain.mask(&r).decision(&d), Cow::Borrowed(_)));
}
