//! Built-in rules through the engine: external.

use super::*;

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
