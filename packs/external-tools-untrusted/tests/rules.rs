//! The pack as the engine sees it: requests in, findings out.

use external_tools_untrusted::PACK;
use serde_json::{Value, json};
use warden_sdk::testing::{RequestBuilder, disabled, settings};
use warden_sdk::{Finding, Request, RuleSettings, SafetyClass, Strictness, Verdict};

const URL_RULE: &str = "url-domain-allowlist";

fn eval(req: &Request, settings: &[RuleSettings]) -> Vec<Finding> {
    match PACK.evaluate(req, settings) {
        Ok(f) => f,
        Err(e) => panic!("evaluate failed: {e}"),
    }
}

fn finding<'a>(findings: &'a [Finding], rule: &str) -> Option<&'a Finding> {
    findings.iter().find(|f| f.rule == rule)
}

/// Only the URL rule, with a typical allowlist.
fn url_settings(extra: Value) -> Vec<RuleSettings> {
    let mut params = json!({
        "allow_domains": [".example.com", "api.partner.io", "*.cdn.io", "xn--bcher-kva.de"],
    });
    if let (Some(p), Some(e)) = (params.as_object_mut(), extra.as_object()) {
        p.extend(e.clone());
    }
    vec![
        settings(URL_RULE, params),
        disabled("external-tool-allowlist"),
        disabled("escalate-destructive"),
        disabled("untrusted-input"),
    ]
}

/// The URL rule's reason for `args` sent to the external `http.get`, or
/// `None` when it allows them.
fn url_reason_with(args: Value, extra: Value) -> Option<String> {
    let req = RequestBuilder::new("http.get", SafetyClass::External)
        .args(args)
        .build();
    let findings = eval(&req, &url_settings(extra));
    finding(&findings, URL_RULE).map(|f| {
        assert_eq!(f.verdict, Verdict::Deny);
        f.reason.clone()
    })
}

fn url_reason(url: &str) -> Option<String> {
    url_reason_with(json!({ "url": url }), json!({}))
}

fn denied(url: &str) -> String {
    url_reason(url).unwrap_or_else(|| panic!("`{url}` was allowed"))
}

// ---------------------------------------------------------------- external-tool-allowlist

#[test]
fn external_tools_must_be_on_the_allowlist() {
    let deny = |tool: &str| {
        let req = RequestBuilder::new(tool, SafetyClass::External).build();
        finding(&eval(&req, &[]), "external-tool-allowlist").cloned()
    };
    assert_eq!(deny("http.get"), None);
    assert_eq!(deny("search.web"), None);
    assert_eq!(deny("search.news"), None);
    let f = deny("email.send").unwrap_or_else(|| panic!("email.send allowed"));
    assert_eq!(f.verdict, Verdict::Deny);
    assert!(f.reason.contains("`email.send`"), "{}", f.reason);
    assert!(f.reason.contains("`http.get`, `search.*`"), "{}", f.reason);
    assert!(deny("http.post").is_some());
    assert!(deny("HTTP.GET").is_some(), "tool names are case-sensitive");
}

#[test]
fn the_tool_allowlist_ignores_other_classes() {
    for class in [
        SafetyClass::ReadOnly,
        SafetyClass::Write,
        SafetyClass::Financial,
        SafetyClass::Destructive,
    ] {
        let req = RequestBuilder::new("email.send", class).build();
        assert!(finding(&eval(&req, &[]), "external-tool-allowlist").is_none());
    }
}

#[test]
fn the_tool_allowlist_can_be_replaced_or_emptied() {
    let req = RequestBuilder::new("email.send", SafetyClass::External).build();
    let custom = [settings(
        "external-tool-allowlist",
        json!({"allow_tools": ["email.*"]}),
    )];
    assert!(finding(&eval(&req, &custom), "external-tool-allowlist").is_none());

    let get = RequestBuilder::new("http.get", SafetyClass::External).build();
    let empty = [settings(
        "external-tool-allowlist",
        json!({"allow_tools": []}),
    )];
    let f = eval(&get, &empty);
    let reason = &finding(&f, "external-tool-allowlist")
        .map(|f| f.reason.clone())
        .unwrap_or_default();
    assert!(reason.contains("allowlist is empty"), "{reason}");

    assert!(
        finding(
            &eval(&req, &[disabled("external-tool-allowlist")]),
            "external-tool-allowlist"
        )
        .is_none()
    );
}

// ---------------------------------------------------------------- url-domain-allowlist

#[test]
fn allowed_domains_pass() {
    for url in [
        "https://example.com/",
        "https://www.example.com/a?b=c#d",
        "HTTPS://API.EXAMPLE.COM:8443/x",
        "http://example.com./",
        "https://api.partner.io",
        "https://img.cdn.io/x.png",
        "https://user:pw@example.com/",
        "https://xn--bcher-kva.de/",
        "https://bücher.de/",
        "www.example.com",
        "//static.example.com/app.js",
        "no urls here, e.g. plain text i.e. words",
    ] {
        assert_eq!(url_reason(url), None, "{url}");
    }
}

#[test]
fn other_domains_are_denied_with_tool_host_and_place() {
    let r = denied("https://evil.com/steal?d=secret");
    assert!(r.contains("`http.get`"), "{r}");
    assert!(r.contains("host `evil.com`"), "{r}");
    assert!(r.contains("not on the domain allowlist"), "{r}");
    assert!(r.contains("at args `/url`"), "{r}");
    assert!(
        !r.contains("secret"),
        "the path and query stay out of reasons: {r}"
    );
    assert!(
        url_reason("https://cdn.io/").is_some(),
        "`*.` entries exclude the apex"
    );
    assert!(
        url_reason("https://partner.io/").is_some(),
        "exact entries exclude the apex"
    );
    assert!(url_reason("https://evilexample.com/").is_some());
    assert!(url_reason("https://example.com.evil.com/").is_some());
}

#[test]
fn userinfo_tricks_are_seen_through() {
    for url in [
        "https://example.com@evil.com/",
        "https://example.com:pw@evil.com",
        "https://example.com x@evil.com/",
        "https://example.com\n@evil.com/",
        "https://example.com\"@evil.com/",
        "www.example.com@evil.com",
    ] {
        assert!(denied(url).contains("`evil.com`"), "{url}");
    }
}

#[test]
fn backslashes_case_dots_and_escapes_do_not_hide_hosts() {
    assert!(denied("https:\\\\evil.com\\x").contains("`evil.com`"));
    assert!(denied("https:/\\evil.com").contains("`evil.com`"));
    assert!(denied("HTTPS://EVIL.COM").contains("`evil.com`"));
    assert!(denied("https://evil.com./").contains("`evil.com`"));
    assert!(denied("https://%65vil.com/").contains("`evil.com`"));
    assert!(denied("https://example.com%40evil.com/").contains("invalid host"));
    assert!(denied("https://example.com\n.evil.com/").contains("`example.com.evil.com`"));
    assert!(denied("https://example.com\".evil.com/").contains("invalid host"));
    assert!(denied("http:evil.com").contains("`evil.com`"));
    assert!(denied("\\\\evil.com\\share").contains("`evil.com`"));
}

#[test]
fn ip_literals_are_denied_by_default_in_every_notation() {
    for (url, ip) in [
        ("http://127.0.0.1/", "127.0.0.1"),
        ("http://2130706433/", "127.0.0.1"),
        ("http://0x7f.1/", "127.0.0.1"),
        ("http://0177.0.0.1/", "127.0.0.1"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "169.254.169.254",
        ),
        ("http://[::1]/", "::1"),
        ("http://8.8.8.8/", "8.8.8.8"),
        ("//2130706433/", "127.0.0.1"),
    ] {
        let r = denied(url);
        assert!(r.contains(&format!("IP address `{ip}`")), "{url}: {r}");
    }
    assert!(denied("http://8.8.8.8/").contains("allow_ip_literals"));
    assert!(denied("http://1.2.3.256/").contains("invalid host"));
}

#[test]
fn allowing_ip_literals_still_blocks_internal_ranges() {
    let with_ips =
        |url: &str| url_reason_with(json!({ "url": url }), json!({"allow_ip_literals": true}));
    assert_eq!(with_ips("http://8.8.8.8/"), None);
    assert_eq!(with_ips("http://[2606:4700:4700::1111]/"), None);
    for url in [
        "http://169.254.169.254/",
        "http://0xa9fea9fe/",
        "http://127.0.0.1/",
        "http://10.0.0.1/",
        "http://192.168.1.1/",
        "http://0/",
        "http://[::1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
    ] {
        let r = with_ips(url).unwrap_or_else(|| panic!("{url} allowed"));
        assert!(r.contains("never allowed"), "{url}: {r}");
    }
    assert!(
        with_ips("http://169.254.169.254/")
            .unwrap_or_default()
            .contains("metadata")
    );
}

#[test]
fn homographs_and_punycode_need_exact_entries() {
    let r = denied("https://p\u{430}ypal.com/");
    assert!(
        r.contains("internationalised host `xn--pypal-4ve.com`"),
        "{r}"
    );
    assert!(r.contains("homograph"), "{r}");
    assert!(
        r.contains("p\\u{430}ypal.com"),
        "the URL shows the hidden character: {r}"
    );
    assert!(denied("https://xn--pypal-4ve.com/").contains("internationalised"));
    // `.example.com` does not cover an internationalised subdomain.
    assert!(denied("https://xn--80ak6aa92e.example.com/").contains("internationalised"));
    assert!(denied("https://ｅｘａｍｐｌｅ.com/").contains("internationalised"));
}

#[test]
fn dangerous_schemes_are_denied() {
    for (url, scheme) in [
        ("javascript:alert(document.cookie)", "javascript:"),
        ("data:text/html;base64,PHNjcmlwdD4=", "data:"),
        ("file:///etc/passwd", "file:"),
        ("vbscript:msgbox(1)", "vbscript:"),
        ("ftp://example.com/x", "ftp:"),
        ("gopher://example.com/_x", "gopher:"),
        ("wss://example.com/socket", "wss:"),
    ] {
        let r = denied(url);
        assert!(
            r.contains(&format!("may not use `{scheme}` URLs")),
            "{url}: {r}"
        );
        assert!(r.contains("allowed: `http`, `https`"), "{r}");
    }
    let html = json!({"body": "<a href=\"javascript: alert(1)\">x</a>"});
    assert!(url_reason_with(html, json!({})).is_some());
}

#[test]
fn allowed_schemes_are_configurable() {
    let only_https = json!({"allow_schemes": ["https"]});
    assert!(url_reason_with(json!({"u": "http://example.com/"}), only_https.clone()).is_some());
    assert_eq!(
        url_reason_with(json!({"u": "https://example.com/"}), only_https.clone()),
        None
    );
    assert_eq!(
        url_reason_with(json!({"u": "www.example.com"}), only_https),
        None
    );
    let wss = json!({"allow_schemes": ["https", "WSS"]});
    assert_eq!(
        url_reason_with(json!({"u": "wss://example.com/s"}), wss.clone()),
        None
    );
    assert!(
        url_reason_with(json!({"u": "wss://evil.com/s"}), wss)
            .is_some_and(|r| r.contains("`evil.com`"))
    );
    let none = json!({"allow_schemes": []});
    let r = url_reason_with(json!({"u": "//example.com/x"}), none).unwrap_or_default();
    assert!(r.contains("scheme-relative"), "{r}");
}

#[test]
fn urls_are_found_at_any_depth_and_in_keys() {
    let r = url_reason_with(
        json!({"batch": [{"ok": "https://example.com"}, {"req": {"headers": ["x", "see https://evil.com/a"]}}]}),
        json!({}),
    )
    .unwrap_or_default();
    assert!(r.contains("at args `/batch/1/req/headers/1`"), "{r}");
    let r = url_reason_with(
        json!({"a": ["https://evil.com/x", "https://evil.com"], "b": "https://evil.com"}),
        json!({}),
    )
    .unwrap_or_default();
    assert!(r.contains("at args `/a/0`"), "{r}");
    let r = url_reason_with(json!({"https://evil.com": 1}), json!({})).unwrap_or_default();
    assert!(r.contains("`evil.com`"), "{r}");
    let r = url_reason_with(json!("https://evil.com"), json!({})).unwrap_or_default();
    assert!(r.contains("in the arguments (the whole document)"), "{r}");
    let r = url_reason_with(json!({"a/b": "https://evil.com"}), json!({})).unwrap_or_default();
    assert!(r.contains("`/a~1b`"), "{r}");
}

#[test]
fn urls_in_prose_and_markup_are_found() {
    let body = |text: &str| url_reason_with(json!({ "body": text }), json!({}));
    assert_eq!(
        body("Read https://example.com/docs, then reply to bob@evil.com."),
        None
    );
    assert_eq!(
        body("(see https://example.com).\n\"https://www.example.com\"?"),
        None
    );
    assert_eq!(
        body(r#"{"link":"https://example.com","owner":"bob@evil.com"}"#),
        None
    );
    assert!(body("![img](https://evil.com/pixel.png?d=secret)").is_some());
    assert!(body("<img src=\"//evil.com/p.png\">").is_some());
    assert!(body("log in at https://example.com/login?next=https://evil.com").is_some());
    assert!(body("go to www.evil.com now").is_some());
    assert!(body("mirror: https://example.com https://evil.com").is_some());
}

#[test]
fn raw_arguments_are_scanned_when_not_json() {
    let req = RequestBuilder::new("http.get", SafetyClass::External)
        .args_text("url=https://evil.com/ (not json")
        .build();
    let f = eval(&req, &url_settings(json!({})));
    let reason = finding(&f, URL_RULE)
        .map(|f| f.reason.clone())
        .unwrap_or_default();
    assert!(reason.contains("raw arguments"), "{reason}");
}

#[test]
fn the_empty_default_allowlist_denies_every_url() {
    let req = RequestBuilder::new("http.get", SafetyClass::External)
        .args(json!({"url": "https://example.com/"}))
        .build();
    let f = eval(&req, &[]);
    let reason = finding(&f, URL_RULE)
        .map(|f| f.reason.clone())
        .unwrap_or_default();
    assert!(reason.contains("allowlist is empty"), "{reason}");
    let no_url = RequestBuilder::new("search.web", SafetyClass::External)
        .args(json!({"q": "rust e.g. ownership"}))
        .build();
    assert!(eval(&no_url, &[]).is_empty());
}

#[test]
fn url_rule_checks_configured_classes_only() {
    let args = json!({"body": "https://evil.com"});
    let check = |class: SafetyClass, extra: Value| {
        let req = RequestBuilder::new("docs.update", class)
            .args(args.clone())
            .build();
        finding(&eval(&req, &url_settings(extra)), URL_RULE).is_some()
    };
    assert!(check(SafetyClass::Write, json!({})));
    assert!(check(SafetyClass::External, json!({})));
    assert!(!check(SafetyClass::ReadOnly, json!({})));
    assert!(!check(SafetyClass::Financial, json!({})));
    assert!(check(
        SafetyClass::Financial,
        json!({"classes": ["financial"]})
    ));
    assert!(!check(SafetyClass::Write, json!({"classes": ["external"]})));
}

#[test]
fn url_rule_can_be_disabled() {
    let req = RequestBuilder::new("http.get", SafetyClass::External)
        .args(json!({"url": "http://169.254.169.254/"}))
        .build();
    assert!(finding(&eval(&req, &[disabled(URL_RULE)]), URL_RULE).is_none());
}

// ---------------------------------------------------------------- escalate-destructive

#[test]
fn destructive_actions_escalate_to_security() {
    let req = RequestBuilder::new("db.drop_table", SafetyClass::Destructive).build();
    let f = eval(&req, &[]);
    let f = finding(&f, "escalate-destructive").unwrap_or_else(|| panic!("no escalation"));
    assert_eq!(f.verdict, Verdict::Escalate);
    assert_eq!(f.route.as_deref(), Some("security"));
    assert!(
        f.reason.contains("`db.drop_table` is destructive"),
        "{}",
        f.reason
    );

    let write = RequestBuilder::new("db.insert", SafetyClass::Write).build();
    assert!(finding(&eval(&write, &[]), "escalate-destructive").is_none());
}

#[test]
fn destructive_routes_and_exemptions_are_configurable() {
    let req = RequestBuilder::new("tmp.delete_file", SafetyClass::Destructive).build();
    let routed = [settings("escalate-destructive", json!({"route": "dba"}))];
    let f = eval(&req, &routed);
    assert_eq!(
        finding(&f, "escalate-destructive")
            .and_then(|f| f.route.clone())
            .as_deref(),
        Some("dba")
    );

    let unrouted = [settings("escalate-destructive", json!({"route": ""}))];
    let f = eval(&req, &unrouted);
    assert_eq!(
        finding(&f, "escalate-destructive").map(|f| f.route.clone()),
        Some(None)
    );

    let exempt = [settings(
        "escalate-destructive",
        json!({"exempt_tools": ["tmp.*"]}),
    )];
    assert!(finding(&eval(&req, &exempt), "escalate-destructive").is_none());
    assert!(
        finding(
            &eval(&req, &[disabled("escalate-destructive")]),
            "escalate-destructive"
        )
        .is_none()
    );
}

// ---------------------------------------------------------------- untrusted-input

fn article(class: SafetyClass) -> &'static str {
    if class == SafetyClass::External {
        "an"
    } else {
        "a"
    }
}

#[test]
fn untrusted_input_may_not_drive_side_effects() {
    for class in [
        SafetyClass::Write,
        SafetyClass::Destructive,
        SafetyClass::Financial,
        SafetyClass::External,
    ] {
        let req = RequestBuilder::new("crm.update", class)
            .tag("pii")
            .tag("Untrusted-Input")
            .build();
        let f = eval(&req, &[]);
        let f = finding(&f, "untrusted-input").unwrap_or_else(|| panic!("{class:?} allowed"));
        assert_eq!(f.verdict, Verdict::Deny);
        assert!(f.reason.contains("`crm.update`"), "{}", f.reason);
        assert!(
            f.reason
                .contains(&format!("is {} {} action", article(class), class.as_str())),
            "{}",
            f.reason
        );
        assert!(f.reason.contains("tag `Untrusted-Input`"), "{}", f.reason);
    }
    let read = RequestBuilder::new("crm.get", SafetyClass::ReadOnly)
        .tag("untrusted")
        .build();
    assert!(finding(&eval(&read, &[]), "untrusted-input").is_none());
    let trusted = RequestBuilder::new("crm.update", SafetyClass::Write)
        .tag("pii")
        .build();
    assert!(finding(&eval(&trusted, &[]), "untrusted-input").is_none());
}

#[test]
fn untrusted_input_tags_and_classes_are_configurable() {
    let req = RequestBuilder::new("crm.update", SafetyClass::Write)
        .tag("from-web")
        .build();
    let custom = [settings(
        "untrusted-input",
        json!({"tags": ["from-web"], "classes": ["write"]}),
    )];
    assert!(finding(&eval(&req, &custom), "untrusted-input").is_some());
    let ext_only = [settings(
        "untrusted-input",
        json!({"tags": ["from-web"], "classes": ["external"]}),
    )];
    assert!(finding(&eval(&req, &ext_only), "untrusted-input").is_none());
    let read_too = [settings(
        "untrusted-input",
        json!({"classes": ["read-only"]}),
    )];
    let read = RequestBuilder::new("kb.search", SafetyClass::ReadOnly)
        .tag("untrusted")
        .build();
    assert!(finding(&eval(&read, &read_too), "untrusted-input").is_some());
    assert!(
        finding(
            &eval(&req, &[disabled("untrusted-input")]),
            "untrusted-input"
        )
        .is_none()
    );
}

// ---------------------------------------------------------------- the pack as a whole

#[test]
fn one_request_can_trip_several_rules() {
    let req = RequestBuilder::new("webhook.post", SafetyClass::External)
        .tag("untrusted")
        .args(json!({"url": "http://169.254.169.254/latest"}))
        .build();
    let rules: Vec<String> = eval(&req, &[]).into_iter().map(|f| f.rule).collect();
    assert_eq!(
        rules,
        ["external-tool-allowlist", URL_RULE, "untrusted-input"]
    );
}

#[test]
fn bad_settings_name_the_rule_and_the_field() {
    let err = |rule: &str, params: Value| {
        PACK.check_settings(&[settings(rule, params)])
            .err()
            .unwrap_or_default()
    };
    let e = err(
        URL_RULE,
        json!({"allow_domains": ["example.com", "https://evil.com/"]}),
    );
    assert!(
        e.contains("rule `url-domain-allowlist`") && e.contains("`allow_domains[1]`"),
        "{e}"
    );
    assert!(e.contains("host name only"), "{e}");
    let e = err(URL_RULE, json!({"allow_domains": ["bücher.de"]}));
    assert!(e.contains("punycode"), "{e}");
    let e = err(URL_RULE, json!({"allow_schemes": ["https://"]}));
    assert!(
        e.contains("`allow_schemes[0]`") && e.contains("write `https`"),
        "{e}"
    );
    let e = err(URL_RULE, json!({"classes": ["external", "networked"]}));
    assert!(e.contains("`classes[1]`") && e.contains("networked"), "{e}");
    let e = err(URL_RULE, json!({"allow_ip_literals": "yes"}));
    assert!(e.contains("`allow_ip_literals`"), "{e}");
    let e = err(URL_RULE, json!({"allowed_domains": []}));
    assert!(
        e.contains("rule `url-domain-allowlist`") && e.contains("allowed_domains"),
        "{e}"
    );
    let e = err(
        "external-tool-allowlist",
        json!({"allow_tools": "http.get"}),
    );
    assert!(
        e.contains("rule `external-tool-allowlist`") && e.contains("`allow_tools`"),
        "{e}"
    );
    let e = err("escalate-destructive", json!({"route": 7}));
    assert!(
        e.contains("rule `escalate-destructive`") && e.contains("`route`"),
        "{e}"
    );
    let e = err("untrusted-input", json!({"tags": [1]}));
    assert!(
        e.contains("rule `untrusted-input`") && e.contains("`tags[0]`"),
        "{e}"
    );
    assert!(PACK.check_settings(&PACK.default_settings()).is_ok());
    assert!(
        PACK.check_settings(&[settings("no-such-rule", json!({}))])
            .is_err()
    );
}

#[test]
fn pack_info_describes_rules_params_and_strictness() {
    let info = PACK.info();
    assert_eq!(info.name, "external-tools-untrusted");
    assert_eq!(info.version, "1.0.0");
    let ids: Vec<&str> = info.rules.iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "external-tool-allowlist",
            URL_RULE,
            "escalate-destructive",
            "untrusted-input"
        ]
    );
    assert!(info.rules.iter().all(|r| r.default_enabled));
    let rule = |id: &str| {
        info.rules
            .iter()
            .find(|r| r.id == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id}"))
    };
    let params =
        |id: &str| serde_json::from_str::<Value>(&rule(id).default_params).unwrap_or_default();
    assert_eq!(
        params("external-tool-allowlist"),
        json!({"allow_tools": ["http.get", "search.*"]})
    );
    assert_eq!(
        params(URL_RULE),
        json!({"allow_domains": [], "allow_schemes": ["http", "https"], "allow_ip_literals": false, "classes": ["external", "write"]})
    );
    assert_eq!(
        params("escalate-destructive"),
        json!({"route": "security", "exempt_tools": []})
    );
    assert_eq!(
        params("untrusted-input"),
        json!({"tags": ["untrusted-input", "untrusted"], "classes": ["write", "destructive", "financial", "external"]})
    );
    let strict = |id: &str| rule(id).strictness;
    assert_eq!(
        strict("external-tool-allowlist"),
        [("allow_tools".to_owned(), Strictness::Subset)]
    );
    assert_eq!(
        strict(URL_RULE),
        [
            ("allow_domains".to_owned(), Strictness::Subset),
            ("allow_schemes".to_owned(), Strictness::Subset),
            ("allow_ip_literals".to_owned(), Strictness::WhenFalse),
            ("classes".to_owned(), Strictness::Superset),
        ]
    );
    assert_eq!(
        strict("escalate-destructive"),
        [("exempt_tools".to_owned(), Strictness::Subset)]
    );
    assert_eq!(
        strict("untrusted-input"),
        [
            ("tags".to_owned(), Strictness::Superset),
            ("classes".to_owned(), Strictness::Superset)
        ]
    );
}
