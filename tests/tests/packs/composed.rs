//! Built-in rules through the engine: composed.

use super::*;
use crate::pii::EMAIL;

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
