//! The pack's rules, evaluated natively through `PACK` as the host would.
#![allow(clippy::unwrap_used)]

use pii_strict::PACK;
use serde_json::{Value, json};
use warden_sdk::testing::{RequestBuilder, disabled, settings};
use warden_sdk::{Finding, Request, RuleSettings, SafetyClass, Strictness, Verdict};

const CARD: &str = "4111 1111 1111 1111";
const IBAN: &str = "DE89 3704 0044 0532 0130 00";
const SSN: &str = "123-45-6789";
const PHONE: &str = "+44 20 7946 0958";
const EMAIL: &str = "jane.doe@example.com";

fn call(tool: &str, class: SafetyClass, args: Value) -> Request {
    RequestBuilder::new(tool, class).args(args).build()
}

fn eval(req: &Request, settings: &[RuleSettings]) -> Vec<Finding> {
    PACK.evaluate(req, settings).unwrap()
}

fn verdicts(findings: &[Finding]) -> Vec<(&str, Verdict)> {
    findings
        .iter()
        .map(|f| (f.rule.as_str(), f.verdict))
        .collect()
}

fn only<'f>(findings: &'f [Finding], rule: &str) -> &'f Finding {
    let matching: Vec<&Finding> = findings.iter().filter(|f| f.rule == rule).collect();
    assert_eq!(matching.len(), 1, "{findings:?}");
    matching[0]
}

// ---------------------------------------------------------------- metadata

#[test]
fn describes_itself() {
    let info = PACK.info();
    assert_eq!(info.name, "pii-strict");
    assert_eq!(info.version, "1.0.0");
    let ids: Vec<&str> = info.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(ids, vec!["pii-external", "pii-write", "pii-tag"]);
    assert!(info.rules.iter().all(|r| r.default_enabled));

    let params = |id: &str| -> Value {
        let rule = info.rules.iter().find(|r| r.id == id).unwrap();
        serde_json::from_str(&rule.default_params).unwrap()
    };
    assert_eq!(
        params("pii-external"),
        json!({"emails": true, "phones": true, "cards": true, "ibans": true, "ssns": true, "allow_tools": []})
    );
    assert_eq!(
        params("pii-write"),
        json!({"emails": true, "phones": true, "cards": true, "ibans": true, "ssns": true,
               "cards_always_deny": true, "route": "privacy", "allow_tools": []})
    );
    assert_eq!(
        params("pii-tag"),
        json!({"tags": ["pii"], "route": "privacy"})
    );

    let write = info.rules.iter().find(|r| r.id == "pii-write").unwrap();
    assert!(
        write
            .strictness
            .contains(&("cards_always_deny".to_owned(), Strictness::WhenTrue))
    );
    assert!(
        write
            .strictness
            .contains(&("allow_tools".to_owned(), Strictness::Subset))
    );
    let tag = info.rules.iter().find(|r| r.id == "pii-tag").unwrap();
    assert_eq!(
        tag.strictness,
        vec![("tags".to_owned(), Strictness::Superset)]
    );
}

#[test]
fn default_settings_are_accepted() {
    assert!(PACK.check_settings(&PACK.default_settings()).is_ok());
    let req = call("mail.send", SafetyClass::External, json!({"body": EMAIL}));
    assert_eq!(
        eval(&req, &PACK.default_settings()),
        PACK.evaluate_defaults(&req).unwrap()
    );
}

// ------------------------------------------------------------ pii-external

#[test]
fn external_tools_may_not_receive_any_kind_of_pii() {
    for (value, kind) in [
        (EMAIL, "e-mail address"),
        (PHONE, "phone number"),
        (CARD, "payment card number"),
        (IBAN, "IBAN"),
        (SSN, "social security number"),
    ] {
        let req = call(
            "mail.send",
            SafetyClass::External,
            json!({"body": format!("see {value}")}),
        );
        let findings = eval(&req, &[]);
        assert_eq!(
            verdicts(&findings),
            vec![("pii-external", Verdict::Deny)],
            "{value}"
        );
        let reason = &findings[0].reason;
        assert!(reason.contains(kind), "{reason}");
        assert!(reason.contains("/body"), "{reason}");
        assert!(reason.contains("`mail.send`"), "{reason}");
    }
}

#[test]
fn clean_external_calls_pass() {
    let req = call(
        "weather.lookup",
        SafetyClass::External,
        json!({"city": "Berlin", "order": "1234567890123456", "when": "2024-01-15 12:30:45",
               "version": "10.0.19041.1234", "card": "4111 1111 1111 1112", "iban": "DE89370400440532013001",
               "ssn": "666-12-3456", "n": 4111111111111111u64}),
    );
    assert!(eval(&req, &[]).is_empty());
}

#[test]
fn finds_pii_deep_in_nested_objects_and_arrays() {
    let req = call(
        "crm.sync",
        SafetyClass::External,
        json!({"batch": [{"id": 1, "notes": ["ok", {"text": format!("card {CARD}")}]}]}),
    );
    let findings = eval(&req, &[]);
    let f = only(&findings, "pii-external");
    assert_eq!(f.verdict, Verdict::Deny);
    assert!(
        f.reason.contains("at /batch/0/notes/1/text"),
        "{}",
        f.reason
    );
}

#[test]
fn reads_and_other_classes_are_not_flagged() {
    let args = json!({"q": EMAIL, "card": CARD, "iban": IBAN, "ssn": SSN, "phone": PHONE});
    for class in [
        SafetyClass::ReadOnly,
        SafetyClass::Financial,
        SafetyClass::Destructive,
    ] {
        let req = call("crm.find", class, args.clone());
        assert!(eval(&req, &[]).is_empty(), "{class:?}");
    }
}

#[test]
fn allowed_external_tools_may_receive_pii() {
    let set = [settings(
        "pii-external",
        json!({"allow_tools": ["mail.*", "sms.send"]}),
    )];
    let args = json!({"to": EMAIL});
    assert!(
        eval(
            &call("mail.send", SafetyClass::External, args.clone()),
            &set
        )
        .is_empty()
    );
    assert!(eval(&call("sms.send", SafetyClass::External, args.clone()), &set).is_empty());
    let other = eval(&call("slack.post", SafetyClass::External, args), &set);
    assert_eq!(verdicts(&other), vec![("pii-external", Verdict::Deny)]);
}

#[test]
fn switched_off_detectors_do_not_fire() {
    let set = [settings(
        "pii-external",
        json!({"emails": false, "phones": false}),
    )];
    let mail = call(
        "mail.send",
        SafetyClass::External,
        json!({"to": EMAIL, "sig": PHONE}),
    );
    assert!(eval(&mail, &set).is_empty());
    let card = call(
        "mail.send",
        SafetyClass::External,
        json!({"to": EMAIL, "body": CARD}),
    );
    let findings = eval(&card, &set);
    assert_eq!(verdicts(&findings), vec![("pii-external", Verdict::Deny)]);
    assert!(findings[0].reason.contains("payment card number"));
    assert!(!findings[0].reason.contains("e-mail"));

    let none = [settings(
        "pii-external",
        json!({"emails": false, "phones": false, "cards": false, "ibans": false, "ssns": false}),
    )];
    let all = call(
        "x.send",
        SafetyClass::External,
        json!([EMAIL, PHONE, CARD, IBAN, SSN]),
    );
    assert!(eval(&all, &none).is_empty());
}

#[test]
fn a_disabled_rule_stays_silent() {
    let req = call("mail.send", SafetyClass::External, json!({"to": EMAIL}));
    assert!(eval(&req, &[disabled("pii-external")]).is_empty());
}

#[test]
fn arguments_that_are_not_json_are_still_scanned() {
    let req = RequestBuilder::new("legacy.post", SafetyClass::External)
        .args_text("to=jane.doe@example.com&msg=hi")
        .build();
    let findings = eval(&req, &[]);
    assert_eq!(verdicts(&findings), vec![("pii-external", Verdict::Deny)]);
    assert!(findings[0].reason.contains("not JSON"));
}

#[test]
fn reasons_never_disclose_the_value() {
    let values = [
        EMAIL,
        PHONE,
        CARD,
        IBAN,
        SSN,
        "4111111111111111",
        "DE89370400440532013000",
    ];
    for value in values {
        for class in [SafetyClass::External, SafetyClass::Write] {
            let req = call("t.x", class, json!({"v": value}));
            for f in eval(&req, &[]) {
                let r = &f.reason;
                assert!(!r.contains(value), "{r}");
                assert!(!r.contains("jane"), "{r}");
                assert!(!r.contains("example.com"), "{r}");
                assert!(!r.contains("6789"), "{r}");
                assert!(!r.contains("7946"), "{r}");
                assert!(!r.contains("1111 1111"), "{r}");
                assert!(!r.contains("3704"), "{r}");
            }
        }
    }
    // Keys that look like PII are redacted in the pointer, too.
    let req = call(
        "t.x",
        SafetyClass::External,
        json!({"jane.doe@example.com": {"card": CARD}}),
    );
    let findings = eval(&req, &[]);
    assert!(
        findings[0].reason.contains("/<redacted>/card"),
        "{}",
        findings[0].reason
    );
    assert!(
        findings[0].reason.contains("ending 1111"),
        "{}",
        findings[0].reason
    );
}

// --------------------------------------------------------------- pii-write

#[test]
fn writes_with_pii_are_escalated_to_privacy() {
    let req = call(
        "crm.update",
        SafetyClass::Write,
        json!({"contact": {"phone": PHONE, "mail": EMAIL}}),
    );
    let findings = eval(&req, &[]);
    let f = only(&findings, "pii-write");
    assert_eq!(f.verdict, Verdict::Escalate);
    assert_eq!(f.route.as_deref(), Some("privacy"));
    assert!(
        f.reason.contains("`crm.update` would store"),
        "{}",
        f.reason
    );
    assert!(f.reason.contains("/contact/"), "{}", f.reason);
    assert_eq!(findings.len(), 1, "pii-external does not apply to writes");
}

#[test]
fn card_numbers_in_writes_are_denied() {
    let req = call(
        "notes.save",
        SafetyClass::Write,
        json!({"a": EMAIL, "text": format!("card {CARD}")}),
    );
    let f = only(&eval(&req, &[]), "pii-write").clone();
    assert_eq!(f.verdict, Verdict::Deny);
    assert!(
        f.reason
            .contains("payment card number (ending 1111) at /text"),
        "{}",
        f.reason
    );
    assert_eq!(f.route, None);

    let lenient = [settings("pii-write", json!({"cards_always_deny": false}))];
    let f = only(&eval(&req, &lenient), "pii-write").clone();
    assert_eq!(f.verdict, Verdict::Escalate);
    assert_eq!(f.route.as_deref(), Some("privacy"));
}

#[test]
fn write_route_and_switches_are_configurable() {
    let req = call("hr.update", SafetyClass::Write, json!({"ssn": SSN}));
    let legal = [settings("pii-write", json!({"route": "legal"}))];
    assert_eq!(
        only(&eval(&req, &legal), "pii-write").route.as_deref(),
        Some("legal")
    );
    let unrouted = [settings("pii-write", json!({"route": ""}))];
    assert_eq!(only(&eval(&req, &unrouted), "pii-write").route, None);
    let off = [settings("pii-write", json!({"ssns": false}))];
    assert!(eval(&req, &off).is_empty());
    let cards_off = [settings("pii-write", json!({"cards": false}))];
    let card = call("notes.save", SafetyClass::Write, json!({"text": CARD}));
    assert!(eval(&card, &cards_off).is_empty());
}

#[test]
fn allowed_write_tools_may_store_pii() {
    let set = [settings("pii-write", json!({"allow_tools": ["crm.*"]}))];
    let req = call("crm.update", SafetyClass::Write, json!({"mail": EMAIL}));
    assert!(eval(&req, &set).is_empty());
    let req = call("wiki.edit", SafetyClass::Write, json!({"mail": EMAIL}));
    assert_eq!(
        verdicts(&eval(&req, &set)),
        vec![("pii-write", Verdict::Escalate)]
    );
    assert!(eval(&req, &[disabled("pii-write")]).is_empty());
}

// ----------------------------------------------------------------- pii-tag

#[test]
fn a_pii_tag_is_trusted_without_detected_pii() {
    let ext = RequestBuilder::new("slack.post", SafetyClass::External)
        .tag("pii")
        .args(json!({"text": "the usual"}))
        .build();
    let findings = eval(&ext, &[]);
    assert_eq!(verdicts(&findings), vec![("pii-tag", Verdict::Deny)]);
    assert!(
        findings[0].reason.contains("`pii`"),
        "{}",
        findings[0].reason
    );
    assert!(
        findings[0]
            .reason
            .contains("`slack.post` is an external tool")
    );

    let write = RequestBuilder::new("db.insert", SafetyClass::Write)
        .tag("PII")
        .build();
    let findings = eval(&write, &[]);
    assert_eq!(verdicts(&findings), vec![("pii-tag", Verdict::Escalate)]);
    assert_eq!(findings[0].route.as_deref(), Some("privacy"));

    let read = RequestBuilder::new("db.select", SafetyClass::ReadOnly)
        .tag("pii")
        .build();
    assert!(eval(&read, &[]).is_empty());
    let pay = RequestBuilder::new("pay.card", SafetyClass::Financial)
        .tag("pii")
        .build();
    assert!(eval(&pay, &[]).is_empty());
}

#[test]
fn tag_names_are_configurable_and_the_rule_can_be_disabled() {
    let ext = RequestBuilder::new("slack.post", SafetyClass::External)
        .tag("phi")
        .build();
    assert!(eval(&ext, &[]).is_empty());
    let phi = [settings("pii-tag", json!({"tags": ["pii", "phi"]}))];
    assert_eq!(
        verdicts(&eval(&ext, &phi)),
        vec![("pii-tag", Verdict::Deny)]
    );
    let tagged = RequestBuilder::new("slack.post", SafetyClass::External)
        .tag("pii")
        .build();
    assert!(eval(&tagged, &[disabled("pii-tag")]).is_empty());
}

#[test]
fn tag_and_detectors_report_together() {
    let req = RequestBuilder::new("mail.send", SafetyClass::External)
        .tag("pii")
        .args(json!({"to": EMAIL}))
        .build();
    let findings = eval(&req, &[]);
    assert_eq!(
        verdicts(&findings),
        vec![("pii-external", Verdict::Deny), ("pii-tag", Verdict::Deny)]
    );
}

// ---------------------------------------------------------------- settings

#[test]
fn bad_params_name_the_rule_and_the_field() {
    let err = PACK
        .check_settings(&[settings("pii-external", json!({"emails": "yes"}))])
        .unwrap_err();
    assert!(
        err.contains("pii-external") && err.contains("emails"),
        "{err}"
    );

    let err = PACK
        .check_settings(&[settings("pii-write", json!({"card_always_deny": true}))])
        .unwrap_err();
    assert!(
        err.contains("pii-write") && err.contains("card_always_deny"),
        "{err}"
    );

    let err = PACK
        .check_settings(&[settings("pii-tag", json!({"tags": "pii"}))])
        .unwrap_err();
    assert!(err.contains("pii-tag") && err.contains("tags"), "{err}");

    let err = PACK
        .check_settings(&[settings("pii-everything", json!({}))])
        .unwrap_err();
    assert!(err.contains("pii-everything"), "{err}");

    let req = call("mail.send", SafetyClass::External, json!({}));
    let err = PACK
        .evaluate(
            &req,
            &[settings("pii-external", json!({"allow_tools": [1]}))],
        )
        .unwrap_err();
    assert!(
        err.contains("pii-external") && err.contains("allow_tools"),
        "{err}"
    );
}

#[test]
fn partial_params_keep_the_other_defaults() {
    let set = [settings("pii-write", json!({"route": "dpo"}))];
    assert!(PACK.check_settings(&set).is_ok());
    let req = call("notes.save", SafetyClass::Write, json!({"text": CARD}));
    assert_eq!(
        verdicts(&eval(&req, &set)),
        vec![("pii-write", Verdict::Deny)]
    );
}
